/* hello.c - the C cell make bench times alone and beside 2,000 other processes (forklab.meters.benchmark,
   c_cell_vs_crowded_host), compiled and run by runner.run_c like a student's %%c cell. */
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
