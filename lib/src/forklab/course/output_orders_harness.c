/* output_orders_harness.c - run a generated fork program RUNS times; print the order of its letters in each run,
   one line a run: "run 3: A C B". Each run is a process of its own whose stdout is a pipe; reading the pipe to
   its end waits for every process of that run (orphans too) to exit or close it.
   Not compiled alone: forklab.course.output_orders.harness_source() puts it after the program (main's code as
   `static int program(void)`) and `#define RUNS n`; runner.run_c compiles that with the C cells' flags. */
#include <string.h>

int main(void) {
    for (int run = 1; run <= RUNS; run++) {
        int fd[2];
        if (pipe(fd) == -1) { perror("pipe"); return 1; }
        fflush(stdout);                      /* or the child would inherit (and print) our buffer */
        pid_t one_run = fork();
        if (one_run == -1) { perror("fork"); return 1; }
        if (one_run == 0) {
            dup2(fd[1], 1);
            close(fd[0]);
            close(fd[1]);
            exit(program());
        }
        close(fd[1]);
        char out[256];
        size_t used = 0;
        ssize_t got;
        while ((got = read(fd[0], out + used, sizeof out - 1 - used)) > 0)
            used += (size_t)got;
        close(fd[0]);
        out[used] = '\0';
        waitpid(one_run, NULL, 0);
        printf("run %d:", run);
        for (char *letter = strtok(out, "\n"); letter; letter = strtok(NULL, "\n"))
            printf(" %s", letter);
        printf("\n");
    }
    return 0;
}
