/* Running this moelens binary's own subcommands as child processes (demo and sweep drive whole
 * stages this way: each stage is exactly what a user would type, with its own progress and errors).
 */
#pragma once

/* Runs `moelens argv[0] argv[1] ...` (NULL-terminated) via /proc/self/exe; stdout goes to
 * stdout_path when not NULL (else inherited), stderr is inherited. Returns the exit status
 * (128+signal when killed), -1 if it could not start. */
int self_run(const char *const *argv, const char *stdout_path);
/* Does the subcommand exist? Runs it with --help, all output discarded; true on exit 0. */
int self_has(const char *const *argv);
