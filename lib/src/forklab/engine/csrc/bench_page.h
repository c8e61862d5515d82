/* bench_page.h - the page a client and its bench share (MAP_SHARED; every process of an experiment
 * sees it too): one request in, one result out, and the three words they hand over with. */
#ifndef FORKLAB_BENCH_PAGE_H
#define FORKLAB_BENCH_PAGE_H

#include <stdint.h>
#include "forklab.h"
#include "experiment.h"

struct fl_page {
    struct fl_request request;
    uint32_t go;            /* set by the client: request number go is there, start (futex) */
    uint32_t done;          /* set by the bench: the result of request number done is complete (futex) */
    uint32_t again;         /* set by the bench with done: it can take another request */
    struct fl_result result;            /* readings: what the client copies out */
    struct fl_control control;          /* the experiment's hand-over words and cleanup (experiment.h) */
};

#define FL_PAGE_QUIT 0xffffffffu     /* page->go: no more requests, end */

#endif
