# Display service: the Linux test front end revm-display, a shared-memory framebuffer file
# plus a control socket over the display service of a VM (or a local helper).
# It reaches VMs like revm does, so it links the CLI's archive (revm's objects but its main).
BIN_DISPLAY := $(BUILD)/bin/revm-display
DISPLAY_FE  := $(wildcard linux/display/*.c)

all: $(if $(DISPLAY_FE),$(BIN_DISPLAY))

$(BIN_DISPLAY): $(call obj,$(REL),$(DISPLAY_FE)) $(call libs,$(REL),revm $(HOSTDIRS))
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(call group,$(filter %.a,$^)) $(LIBS)
