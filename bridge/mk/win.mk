# Window service programs (PROTOCOL.md, Window service): the guest agent revm-winagent and the
# Linux X11 host back end revm-windows. Both link xcb (the agent: the guest's libxcb, so for a
# Void guest the recipe builds it against Void's; here against the build machine's Debian,
# which matches the Debian test fixture). Built only when xcb's development files are there.
WIN_XCB_OK := $(shell pkg-config --exists xcb xcb-composite xcb-damage xcb-xfixes xcb-xtest 2>/dev/null && echo yes)
ifeq ($(WIN_XCB_OK),yes)
WIN_XCB_LIBS := $(shell pkg-config --libs xcb xcb-composite xcb-damage xcb-xfixes xcb-xtest)
BIN_WINAGENT := $(BUILD)/lib/revm/revm-winagent
BIN_WINDOWS  := $(BUILD)/bin/revm-windows
WINDOWS_SRC  := $(wildcard linux/x11/*.c)

all: $(if $(wildcard revm-winagent/main.c),$(BIN_WINAGENT)) $(if $(wildcard linux/x11/main.c),$(BIN_WINDOWS))

$(REL)/revm-winagent/%.o: revm-winagent/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_RELEASE) $(INC) -Irevm-winagent -MMD -MP -c $< -o $@
$(REL)/linux/x11/%.o: linux/x11/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_RELEASE) $(INC) -Irevm-winagent -Iwin -MMD -MP -c $< -o $@
$(eval $(call archive_rule,$(REL),revm-winagent))

# The agent needs only the codec (window, service and wire records) and common; the X11 back
# end shares the agent's selection code (xsel.c) and links the installed host library.
$(BIN_WINAGENT): $(REL)/revm-winagent/main.o $(call libs,$(REL),revm-winagent proto common)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(call group,$(filter %.a,$^)) $(WIN_XCB_LIBS)
$(BIN_WINDOWS): $(call obj,$(REL),$(WINDOWS_SRC)) $(REL)/revm-winagent/revm-winagent.a $(LIBREVM)
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(call group,$(filter %.a,$^)) $(WIN_XCB_LIBS) -pthread
endif
