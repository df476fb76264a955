/* Kernel modules of the initramfs: those the boot needs now, the rest in the background. */
#ifndef REVM_INIT_MODULES_H
#define REVM_INIT_MODULES_H

/* The list mkimage wrote (dependencies first), one module path per line. */
#define MODULES_LIST "/etc/revm-init.modules"

/* Reads MODULES_LIST and loads the modules for hardware the machine has and those that
 * drive no device (see modules.c); returns how many were loaded. */
int load_modules(void);

/* Loads the modules load_modules left in a low-priority child process (or now, when no
 * process can be made) and closes the module files. Call once the root is mounted. */
void load_rest_in_background(void);

#endif
