#ifndef GRAINSWEEP_CSPAWN_H
#define GRAINSWEEP_CSPAWN_H

#include <sys/types.h>

/// Starts `file` (looked up in PATH when it has no '/') with `argv` and `envp` (NULL-terminated)
/// in a new process group whose id is its pid, in directory `dir` (NULL: this one), with stdin
/// from /dev/null and stdout/stderr on `out_fd`/`err_fd`. In the child every signal has its
/// default action and none is blocked, and it receives SIGKILL when the thread that started it
/// ends (PR_SET_PDEATHSIG), so a killed worker leaves no program running.
///
/// Returns the child's pid, or a negative number when it could not be started: -errno when fork
/// failed, and -((stage << 16) | errno) when the child failed at a stage (CSPAWN_STAGE_*) before
/// exec, reported through a close-on-exec pipe, so that a missing program or directory is an
/// error here, not a child exiting 127.
enum { CSPAWN_STAGE_SETUP = 1, CSPAWN_STAGE_CHDIR = 2, CSPAWN_STAGE_EXEC = 3 };

pid_t cspawn_process_group(const char *file, char *const argv[], char *const envp[], const char *dir,
                           int out_fd, int err_fd);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends a started program does not inherit.
int cspawn_pipe_cloexec(int fds[2]);

#endif
