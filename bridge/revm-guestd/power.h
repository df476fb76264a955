/* ACPI power button handling in the guest daemon (see power.c for why). */
#ifndef BRIDGE_REVM_GUESTD_POWER_H
#define BRIDGE_REVM_GUESTD_POWER_H

#include <stdbool.h>

/* Opens the "Power Button" evdev device, non-blocking; -1 when there is none. */
int guest_power_open(void);
/* Drains pending events; true when the button was pressed. */
bool guest_power_pressed(int fd);
/* Runs the distribution's poweroff in the background. */
void guest_power_off(void);

#endif
