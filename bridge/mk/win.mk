# Window service programs (PROTOCOL.md, Window service): the guest agent revm-winagent and the
# Linux X11 host back end revm-windows. Both link xcb (the agent: the guest's libxcb, so for a
# Void guest the recipe builds it against Void's; here against the build machine's Debian,
# which matches the Debian test fixture). Built only when xcb's development files are there.
WIN_XCB_OK := $(shell pkg-config --exists xcb xcb-composite xcb-damage xcb-xfixes xcb-xtest 2>/dev/null && echo yes)
ifeq ($(WIN_XCB_OK),yes)
WIN_XCB_LIBS := $(shell pkg-config --libs xcb xcb-composite xcb-damage xcb-xfixes xcb-xtest)
WIN_OBJ      := $(BUILD)/obj/release/bridge
BIN_WINAGENT := $(BUILD)/lib/revm/revm-winagent
BIN_WINDOWS  := $(BUILD)/bin/revm-windows
WINAGENT_SRC := $(wildcard winagent/*.c) proto/proto_win.c proto/proto_svc.c proto/proto_wire.c $(COMMON)
WINDOWS_SRC  := $(wildcard linux/x11/*.c) winagent/xsel.c

all: $(BIN_WINAGENT) $(if $(wildcard linux/x11/main.c),$(BIN_WINDOWS))

$(WIN_OBJ)/winagent/%.o: winagent/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_RELEASE) $(INC) -Iwinagent -MMD -MP -c $< -o $@
$(WIN_OBJ)/linux/x11/%.o: linux/x11/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_RELEASE) $(INC) -Iwinagent -Iwin -MMD -MP -c $< -o $@

$(BIN_WINAGENT): $(call obj,$(WIN_OBJ),$(WINAGENT_SRC))
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(WIN_XCB_LIBS)
$(BIN_WINDOWS): $(call obj,$(WIN_OBJ),$(WINDOWS_SRC)) $(LIBREVM)
	@mkdir -p $(@D)
	$(CC) -o $@ $(call obj,$(WIN_OBJ),$(WINDOWS_SRC)) $(LIBREVM) $(WIN_XCB_LIBS) -pthread
endif
