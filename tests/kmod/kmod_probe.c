/*
 * Guest-side checks for the kmod VM scenarios (tests/vm/scenarios/kmod*.sh). Each command
 * prints what it saw and exits 0 only when the driver behaved as documented in kmod/.
 *
 *   kmod_probe write DEV SIZE SEED    map DEV shared, fill SIZE bytes with a pattern
 *   kmod_probe verify DEV SIZE SEED   map it again (a new open) and compare the pattern
 *   kmod_probe sigbus DEV OFFSET      touching OFFSET must raise SIGBUS BUS_MCEERR_AR there
 *   kmod_probe refuse-private DEV     MAP_PRIVATE must fail with EINVAL
 *   kmod_probe hold DEV SECONDS       keep a mapping (fd closed) for SECONDS; prints "mapped"
 *   kmod_probe membind NODE SIZE      anonymous memory bound to NODE: every page must land on it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALIGN_2M (2UL << 20)

static int die(const char *what)
{
	fprintf(stderr, "kmod_probe: %s: %s\n", what, strerror(errno));
	return 1;
}

static uint64_t *map_dev(const char *dev, size_t size, int flags)
{
	int fd = open(dev, O_RDWR);
	if (fd < 0)
		return NULL;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
	int saved = errno;
	close(fd); /* the mapping keeps the device open, as a program's heap would */
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

static int fill(const char *dev, size_t size, uint64_t seed, int verify)
{
	uint64_t *p = map_dev(dev, size, MAP_SHARED);
	if (!p)
		return die(dev);
	/* The driver places mappings on its align (2M by default), like device-dax. */
	if ((uintptr_t)p % ALIGN_2M) {
		fprintf(stderr, "kmod_probe: %s mapped at %p, not 2M-aligned\n", dev, (void *)p);
		return 1;
	}
	size_t n = size / sizeof(*p), bad = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t want = seed ^ (i * 0x9e3779b97f4a7c15ULL);
		if (!verify)
			p[i] = want;
		else if (p[i] != want && bad++ < 3)
			fprintf(stderr, "kmod_probe: %s word %zu: %#llx, want %#llx\n", dev, i,
				(unsigned long long)p[i], (unsigned long long)want);
	}
	munmap(p, size);
	if (bad) {
		fprintf(stderr, "kmod_probe: %s: %zu of %zu words differ\n", dev, bad, n);
		return 1;
	}
	printf("%s %zu bytes at a 2M-aligned address (%p)\n", verify ? "verified" : "wrote", size,
	       (void *)p);
	return 0;
}

static sigjmp_buf jump;
static volatile siginfo_t caught;
static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	caught = *si;
	siglongjmp(jump, 1);
}

static int expect_sigbus(const char *dev, size_t off)
{
	size_t size = (off / ALIGN_2M + 1) * ALIGN_2M;
	volatile char *p = (volatile char *)map_dev(dev, size, MAP_SHARED);
	if (!p)
		return die(dev);
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(jump, 1) == 0) {
		(void)p[off];
		fprintf(stderr, "kmod_probe: reading %s at offset %#zx did not raise SIGBUS\n", dev,
			off);
		return 1;
	}
	void *want = (void *)(p + (off & ~4095UL));
	printf("SIGBUS si_code=%d (BUS_MCEERR_AR=%d) si_addr=%p (page %p) lsb=%d\n", caught.si_code,
	       BUS_MCEERR_AR, caught.si_addr, want, (int)caught.si_addr_lsb);
	/* Like a real poisoned page: the faulting address, and lsb saying the whole page. */
	if (caught.si_code != BUS_MCEERR_AR || caught.si_addr_lsb != 12 ||
	    ((uintptr_t)caught.si_addr & ~4095UL) != (uintptr_t)want) {
		fprintf(stderr, "kmod_probe: SIGBUS is not a BUS_MCEERR_AR on the bad page\n");
		return 1;
	}
	/* The pages around it still work: only the bad one is withheld. */
	size_t good = (off & ~4095UL) ? (off & ~4095UL) - 4096 : 4096;
	p[good] = 42;
	if (p[good] != 42) {
		fprintf(stderr, "kmod_probe: a good page next to the bad one does not hold data\n");
		return 1;
	}
	return 0;
}

static int membind(int node, size_t size)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return die("mmap");
	unsigned long mask[16] = {0};
	mask[node / (8 * sizeof(long))] |= 1UL << (node % (8 * sizeof(long)));
	if (mbind(p, size, MPOL_BIND, mask, 8 * sizeof(mask), 0))
		return die("mbind");
	memset(p, 0x5a, size);
	for (size_t off = 0; off < size; off += 4096) {
		int where = -1;
		if (get_mempolicy(&where, NULL, 0, p + off, MPOL_F_NODE | MPOL_F_ADDR))
			return die("get_mempolicy");
		if (where != node) {
			fprintf(stderr, "kmod_probe: page at offset %#zx is on node %d, not %d\n", off,
				where, node);
			return 1;
		}
	}
	printf("%zu bytes bound to node %d: every page is on node %d\n", size, node, node);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "write"))
		return fill(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0), 0);
	if (argc == 5 && !strcmp(argv[1], "verify"))
		return fill(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0), 1);
	if (argc == 4 && !strcmp(argv[1], "sigbus"))
		return expect_sigbus(argv[2], strtoull(argv[3], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "refuse-private")) {
		if (map_dev(argv[2], ALIGN_2M, MAP_PRIVATE)) {
			fprintf(stderr, "kmod_probe: MAP_PRIVATE of %s succeeded\n", argv[2]);
			return 1;
		}
		if (errno != EINVAL)
			return die("MAP_PRIVATE failed, but not with EINVAL");
		printf("MAP_PRIVATE refused with EINVAL\n");
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "hold")) {
		if (!map_dev(argv[2], ALIGN_2M, MAP_SHARED))
			return die(argv[2]);
		printf("mapped\n");
		fflush(stdout);
		sleep(atoi(argv[3]));
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "membind"))
		return membind(atoi(argv[2]), strtoull(argv[3], NULL, 0));
	fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
	return 2;
}
