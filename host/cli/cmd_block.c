#include "cli.h"

int cmd_block(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("block", CLI_FAILED, "not implemented yet");
}
