/* Subcommands register themselves: a file in src/cli/ writes
 *     static int cmd_eval(int argc, char **argv) { ... }
 *     COMMAND("eval", cmd_eval, "perplexity of a model on a text")
 * argv[0] is the subcommand name. Return the process exit status. Every command answers --help. */
#pragma once

typedef int (*CommandFn)(int argc, char **argv);
void command_register(const char *name, CommandFn fn, const char *summary);

#define COMMAND(name, fn, summary)                                                                 \
    __attribute__((constructor)) static void register_##fn(void) {                                 \
        command_register(name, fn, summary);                                                       \
    }

/* True if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);
/* Exits 1 with "moelens: error: <cmd>: unknown option 'X' (see moelens <cmd> --help)". */
void cli_unknown_option(const char *cmd, const char *opt) __attribute__((noreturn));
/* Value of an option that takes one: exits with a clear error when it is missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Parses an integer/float option value strictly; exits with a clear error naming the option. */
long cli_long(const char *cmd, const char *opt, const char *value);
double cli_double(const char *cmd, const char *opt, const char *value);
