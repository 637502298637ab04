#include "cli.h"

int cmd_tune(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("tune", CLI_FAILED, "not implemented yet");
}
