# Device service front ends for Linux hosts: revm-devices keeps an NBD export per
# disk and a TAP interface per NIC of the driver VM alive across VM restarts.
# Linux-only code lives in linux/devices, linux/nbd and linux/tap; the portable engines are in
# dev/ (part of librevm.a and the unit tests).
DEV_LINUX = $(wildcard linux/devices/*.c linux/nbd/*.c linux/tap/*.c)
BIN_DEVICES := $(REL:/obj/release/bridge=)/bin/revm-devices

all: $(if $(wildcard linux/devices/main.c),$(BIN_DEVICES))

$(BIN_DEVICES): $(call obj,$(REL),$(DEV_LINUX)) $(call libs,$(REL),$(HOSTDIRS))
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(call group,$(filter %.a,$^)) $(LIBS)

# linux/ headers are included as "linux/nbd/..." from the front end.
$(REL)/linux/%.o: linux/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_RELEASE) $(INC) -Idev -MMD -MP -c $< -o $@

# The same program with ASan+UBSan, for the hostile-guest integration test.
BIN_DEVICES_SAN := $(REL:/obj/release/bridge=)/tests/bin/revm-devices
all: $(if $(wildcard linux/devices/main.c),$(BIN_DEVICES_SAN))
$(BIN_DEVICES_SAN): $(call obj,$(SAN),$(DEV_LINUX)) $(call libs,$(SAN),$(HOSTDIRS))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $(filter %.o,$^) $(call group,$(filter %.a,$^)) $(LIBS)
$(SAN)/linux/%.o: linux/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) $(INC) -Idev -MMD -MP -c $< -o $@
