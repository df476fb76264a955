# Filesystem service front end for Linux hosts: revm-fuse (FUSE low-level adapter, libfuse3)
# over the portable client in fs/ (part of librevm.a). Built when libfuse3's development files
# are installed (scripts/install-deps.sh); tests that need it skip otherwise. The sanitizer
# build in tests/bin is what the integration tests run.
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null)
FUSE_SRC    := $(wildcard linux/fuse/*.c)
FUSE_HDR    := $(wildcard linux/fuse/*.h) $(HDR)
BIN_FUSE     := $(BUILD)/bin/revm-fuse
BIN_FUSE_SAN := $(BUILD)/tests/bin/revm-fuse

ifneq ($(FUSE_LIBS),)
all: $(BIN_FUSE) $(BIN_FUSE_SAN)
endif

$(BIN_FUSE): $(FUSE_SRC) $(FUSE_HDR) $(call libs,$(REL),$(HOSTDIRS))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_RELEASE) $(INC) -Ifs -Ilinux/fuse $(FUSE_CFLAGS) -o $@ $(FUSE_SRC) \
	  $(call group,$(filter %.a,$^)) $(FUSE_LIBS) $(LIBS)
$(BIN_FUSE_SAN): $(FUSE_SRC) $(FUSE_HDR) $(call libs,$(SAN),$(HOSTDIRS))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) $(INC) -Ifs -Ilinux/fuse $(FUSE_CFLAGS) -o $@ $(FUSE_SRC) \
	  $(call group,$(filter %.a,$^)) $(LDFLAGS_SAN) $(FUSE_LIBS) $(LIBS)
