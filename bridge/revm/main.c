/* revm: run Linux programs in the revm VMs as if they were local. */
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "launch_argv.h"

int main(int argc, char **argv)
{
    if (cli_launch_argv(&argc, &argv) < 0) /* Redox launcher entries start revm with a manifest */
        return 2;
    cli_opts o = {0};
    bool help;
    int first = cli_parse(argc, argv, &o, &help);
    if (help)
        return 0;
    if (first < 0)
        return 2;
    return cli_dispatch(&o, argc - first, argv + first);
}
