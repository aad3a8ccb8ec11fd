/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by tiermem_dax and tiermem_kmem: parsing a range, checking that it is
 * reserved memory, naming whoever already owns it, checking a node, and scrubbing with the
 * machine-check-safe copy.
 *
 * Static inline in a header rather than a shared object: Kbuild warns when one object is
 * linked into two modules, and the modules must build without warnings.
 */
#ifndef TIERMEM_COMMON_H
#define TIERMEM_COMMON_H

#include <linux/fs.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

/* Most test-injected bad pages one load accepts (module parameter array size). */
#define TM_MAX_INJECT 8

/*
 * "START,SIZE" with the usual K/M/G suffixes (memparse), e.g. "0x40000000,256M": the same
 * numbers as a memmap=SIZE!START kernel argument, in the order /proc/iomem shows them.
 */
static inline int tm_parse_range(const char *s, u64 *start, u64 *size)
{
	char *end;

	if (!s || !*s)
		return -EINVAL;
	*start = memparse(s, &end);
	if (end == s || *end != ',')
		return -EINVAL;
	s = end + 1;
	*size = memparse(s, &end);
	if (end == s || (*end && *end != '\n'))
		return -EINVAL;
	if (!*size || *start + *size < *start)
		return -EINVAL;
	return 0;
}

/*
 * Only memory the firmware or the command line set aside for a driver may be handed out:
 * legacy persistent memory (memmap=SIZE!START), an unclaimed persistent-memory region, or
 * EFI "soft reserved" (specific-purpose, e.g. CXL) memory. Anything else (System RAM, MMIO,
 * BIOS "Reserved") is refused: mapping it would hand firmware or device state to programs.
 */
static inline const char *tm_reserved_kind(u64 start, u64 size)
{
	static const struct {
		unsigned long desc;
		const char *what;
	} kinds[] = {
		{ IORES_DESC_PERSISTENT_MEMORY_LEGACY, "Persistent Memory (legacy)" },
		{ IORES_DESC_PERSISTENT_MEMORY, "Persistent Memory" },
		{ IORES_DESC_SOFT_RESERVED, "Soft Reserved" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (region_intersects(start, size, IORESOURCE_MEM, kinds[i].desc) ==
		    REGION_INTERSECTS)
			return kinds[i].what;
	return NULL;
}

struct tm_owner {
	char name[64];
	u64 start, end;
	bool found;
};

static inline int tm_busy_cb(struct resource *res, void *arg)
{
	struct tm_owner *o = arg;

	o->start = res->start;
	o->end = res->end;
	o->found = true;
	return 1; /* the first one is enough to name in a message */
}

/*
 * The name /proc/iomem shows for the innermost resource that contains [start, end].
 * Read from /proc/iomem itself because the resource tree's lock is not exported (walking
 * it without would race with hotplug) and walk_iomem_res_desc() hands out copies without
 * names. Only ever called on an error path, as root (insmod), so addresses are visible.
 */
static inline void tm_iomem_name(u64 start, u64 end, struct tm_owner *o)
{
	const size_t cap = 64 << 10;
	struct file *f;
	loff_t pos = 0;
	ssize_t n;
	size_t len = 0;
	int best = -1;
	char *buf, *line, *next;

	buf = kvmalloc(cap + 1, GFP_KERNEL);
	if (!buf)
		return;
	f = filp_open("/proc/iomem", O_RDONLY, 0);
	if (IS_ERR(f))
		goto out;
	while (len < cap && (n = kernel_read(f, buf + len, cap - len, &pos)) > 0)
		len += n;
	filp_close(f, NULL);
	buf[len] = 0;
	for (line = buf; line && *line; line = next) {
		unsigned long long s, e;
		int depth = 0, used = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		while (line[depth] == ' ')
			depth++;
		if (sscanf(line + depth, "%llx-%llx : %n", &s, &e, &used) != 2 || !used)
			continue;
		if (s <= start && end <= e && depth > best) {
			best = depth;
			strscpy(o->name, line + depth + used, sizeof(o->name));
		}
	}
out:
	kvfree(buf);
}

/*
 * Who holds (part of) a range that request_mem_region() refused: the first busy resource
 * overlapping it, named as /proc/iomem names it. The walk reports the overlap only, so the
 * addresses printed are those of the overlap.
 */
static inline void tm_find_owner(u64 start, u64 size, struct tm_owner *o)
{
	memset(o, 0, sizeof(*o));
	walk_iomem_res_desc(IORES_DESC_NONE, IORESOURCE_MEM | IORESOURCE_BUSY, start,
			    start + size - 1, o, tm_busy_cb);
	if (!o->found) {
		strscpy(o->name, "a resource it only partly overlaps (see /proc/iomem)",
			sizeof(o->name));
		return;
	}
	strscpy(o->name, "(unknown: see /proc/iomem)", sizeof(o->name));
	tm_iomem_name(o->start, o->end, o);
}

/* A node the kernel could ever bring up: SRAT (or the equivalent) declared it. */
static inline bool tm_node_possible(int nid)
{
	return nid >= 0 && nid < MAX_NUMNODES && node_possible(nid);
}

/*
 * Reads [vaddr, vaddr + size) page by page with copy_mc_to_kernel(), which returns the
 * bytes it could not copy instead of taking the machine down when a load hits poisoned
 * memory. Each page that does not copy completely sets bit first_bit + page in bad.
 * Returns the number of bad pages found, or -ENOMEM.
 */
static inline long tm_scrub(const void *vaddr, u64 size, unsigned long *bad,
			    unsigned long first_bit)
{
	void *buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	unsigned long pages = size >> PAGE_SHIFT, i;
	long nbad = 0;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i < pages; i++) {
		if (copy_mc_to_kernel(buf, vaddr + (i << PAGE_SHIFT), PAGE_SIZE)) {
			set_bit(first_bit + i, bad);
			nbad++;
		}
		/* Gigabytes take a while (seconds under emulation): let others run. */
		if ((i & 255) == 255)
			cond_resched();
	}
	kfree(buf);
	return nbad;
}

#endif /* TIERMEM_COMMON_H */
