/* `seekd version`: the same as `seekd --version`. */
#include "base.h"
#include "daemon/commands.h"

#include <stdio.h>

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("seekd %s\n", SK_VERSION);
    return 0;
}
