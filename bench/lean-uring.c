// The lean io_uring reference loop for bench/compare-fio.sh: 4 KiB (or BS) random O_DIRECT
// reads at queue depth QD for SECONDS, with everything the kernel offers a single thread —
// SINGLE_ISSUER | DEFER_TASKRUN (falling back to COOP_TASKRUN, then plain, and saying so), a
// registered ring fd, a registered file and registered (fixed) buffers, batched submission and
// batched reaping — and nothing else: no statistics beyond the I/O count, no latency stamps.
// It is what an application that owns its ring can reach; diorite's engine is measured against it.
//
//   cc -O2 -o lean-uring bench/lean-uring.c -luring
//   lean-uring PATH QD SECONDS [BS]
//
// Prints one line: `ios N seconds S iops I setup FLAGS`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// xorshift64: the next random block.
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_block(uint64_t blocks) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng % blocks;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s PATH QD SECONDS [BS]\n", argv[0]);
    return 2;
  }
  const char *path = argv[1];
  unsigned qd = (unsigned)atoi(argv[2]);
  double secs = atof(argv[3]);
  size_t bs = argc > 4 ? (size_t)atol(argv[4]) : 4096;
  if (qd == 0 || qd > 4096 || bs == 0) {
    fprintf(stderr, "bad QD or BS\n");
    return 2;
  }
  int fd = open(path, O_RDONLY | O_DIRECT);
  if (fd < 0) {
    perror(path);
    return 1;
  }
  struct stat st;
  fstat(fd, &st);
  uint64_t size = st.st_size;
  if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) != 0) {
    perror("BLKGETSIZE64");
    return 1;
  }
  uint64_t blocks = size / bs;
  if (blocks == 0) {
    fprintf(stderr, "%s is smaller than one block\n", path);
    return 1;
  }

  struct io_uring ring;
  struct io_uring_params p;
  const char *setup = "single_issuer,defer_taskrun";
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int r = io_uring_queue_init_params(qd, &ring, &p);
  if (r == -EINVAL) {
    setup = "coop_taskrun";
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    r = io_uring_queue_init_params(qd, &ring, &p);
  }
  if (r == -EINVAL) {
    setup = "plain";
    memset(&p, 0, sizeof p);
    r = io_uring_queue_init_params(qd, &ring, &p);
  }
  if (r < 0) {
    fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
    return 1;
  }
  if (io_uring_register_ring_fd(&ring) < 0)
    fprintf(stderr, "note: ring fd not registered\n");
  if ((r = io_uring_register_files(&ring, &fd, 1)) < 0) {
    fprintf(stderr, "io_uring_register_files: %s\n", strerror(-r));
    return 1;
  }
  struct iovec *iov = calloc(qd, sizeof *iov);
  for (unsigned i = 0; i < qd; i++) {
    if (posix_memalign(&iov[i].iov_base, 4096, bs) != 0) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    memset(iov[i].iov_base, 0, bs);
    iov[i].iov_len = bs;
  }
  if ((r = io_uring_register_buffers(&ring, iov, qd)) < 0) {
    fprintf(stderr, "io_uring_register_buffers: %s\n", strerror(-r));
    return 1;
  }

  // Queue QD reads; then reap in batches, re-queue one read per completion, submit once.
  for (unsigned i = 0; i < qd; i++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read_fixed(sqe, 0, iov[i].iov_base, bs, next_block(blocks) * bs, i);
    sqe->flags |= IOSQE_FIXED_FILE;
    sqe->user_data = i;
  }
  uint64_t ios = 0;
  double start = now(), end = start + secs, t = start;
  unsigned checks = 0;
  for (;;) {
    r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
      fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-r));
      return 1;
    }
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    int stop = 0;
    if ((++checks & 63) == 0) {
      t = now();
      stop = t >= end;
    }
    io_uring_for_each_cqe(&ring, head, cqe) {
      n++;
      if (cqe->res != (int)bs) {
        fprintf(stderr, "read returned %d\n", cqe->res);
        return 1;
      }
      ios++;
      if (!stop) {
        unsigned i = (unsigned)cqe->user_data;
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, 0, iov[i].iov_base, bs, next_block(blocks) * bs, i);
        sqe->flags |= IOSQE_FIXED_FILE;
        sqe->user_data = i;
      }
    }
    io_uring_cq_advance(&ring, n);
    if (stop)
      break;
  }
  // What is still in flight is not counted; io_uring_queue_exit waits for it.
  t = now();
  printf("ios %llu seconds %.6f iops %.0f setup %s\n", (unsigned long long)ios, t - start,
         ios / (t - start), setup);
  io_uring_queue_exit(&ring);
  return 0;
}
