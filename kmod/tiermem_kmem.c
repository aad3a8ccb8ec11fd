// SPDX-License-Identifier: GPL-2.0
/*
 * tiermem_kmem: hands a reserved physical range (e.g. memmap=256M!1G) to the page
 * allocator as System RAM on a NUMA node, one memory block at a time, and only the blocks
 * that read back cleanly.
 *
 *   insmod tiermem_kmem.ko range=0x40000000,256M target_node=2
 *
 * Linux's own dax kmem driver onlines a range without checking it: one bad page in it and
 * the first allocation to land there takes a machine check. Here every block is read with
 * the machine-check-safe copy first; a block with any error is left out (and kept claimed,
 * so no other driver picks it up), and listed in dmesg and in
 * /sys/class/tiermem_kmem/tmkmem0/skipped_blocks.
 *
 * Onlining follows /sys/devices/system/memory/auto_online_blocks, as for every driver that
 * adds memory: set it to online_movable first so that the memory can be taken out again
 * (the kernel never places unmovable allocations in ZONE_MOVABLE). Unload offlines and
 * removes every block; a block the kernel cannot empty stays online until reboot and the
 * module still unloads safely (nothing the kernel keeps refers into the module).
 *
 * Test-only: inject_bad_page=OFFSET[,OFFSET...] marks pages bad as if the scrub had found
 * them, because an emulator cannot raise a real machine check. Never use it in production.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/io.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "tiermem_common.h"

static char *range;
module_param(range, charp, 0444);
MODULE_PARM_DESC(range, "START,SIZE of the reserved physical range, e.g. 0x40000000,256M (multiples of the memory block size)");

static int target_node = NUMA_NO_NODE;
module_param(target_node, int, 0444);
MODULE_PARM_DESC(target_node, "NUMA node to add the memory to (default: the firmware's node for the range)");

/* TEST ONLY: see the file comment. */
static unsigned long inject_bad_page[TM_MAX_INJECT];
static int inject_bad_page_count;
module_param_array(inject_bad_page, ulong, &inject_bad_page_count, 0444);
MODULE_PARM_DESC(inject_bad_page, "TEST ONLY: offsets of pages to treat as failed by the scrub");

enum tmk_state { TMK_SKIPPED, TMK_ADDED, TMK_FAILED };

struct tmkmem {
	u64 start, size, block;
	int node;
	unsigned long nblocks;
	u8 *state;			/* enum tmk_state per block */
	struct resource *res;		/* the whole range, parent of the blocks */
	struct resource **skipped;	/* busy claims on skipped blocks */
	/*
	 * Every resource the kernel keeps after we are gone must not point into the module:
	 * a block that cannot be removed outlives it, so its name is allocated, not a
	 * literal.
	 */
	const char *ram_name, *res_name;
	bool leak;			/* some block stays online: keep res and both names */
	struct device *dev;
};

static struct class *tmk_class;
static struct tmkmem tmk0;

static ssize_t list_blocks(struct tmkmem *t, enum tmk_state want, char *buf)
{
	unsigned long i;
	int len = 0;

	for (i = 0; i < t->nblocks; i++) {
		if (t->state[i] != want)
			continue;
		if (len > PAGE_SIZE - 64) {
			len += sysfs_emit_at(buf, len, "...\n");
			break;
		}
		len += sysfs_emit_at(buf, len, "%#llx-%#llx\n", t->start + i * t->block,
				     t->start + (i + 1) * t->block - 1);
	}
	return len;
}

/* One line per block left out because the scrub found (or was told of) an error. */
static ssize_t skipped_blocks_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return list_blocks(dev_get_drvdata(dev), TMK_SKIPPED, buf);
}
static DEVICE_ATTR_RO(skipped_blocks);

static ssize_t added_blocks_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return list_blocks(dev_get_drvdata(dev), TMK_ADDED, buf);
}
static DEVICE_ATTR_RO(added_blocks);

static ssize_t target_node_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmkmem *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", t->node);
}
static DEVICE_ATTR_RO(target_node);

static ssize_t resource_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmkmem *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%#llx\n", t->start);
}
static DEVICE_ATTR_RO(resource);

static ssize_t size_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmkmem *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n", t->size);
}
static DEVICE_ATTR_RO(size);

static ssize_t block_size_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmkmem *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n", t->block);
}
static DEVICE_ATTR_RO(block_size);

static struct attribute *tmk_attrs[] = {
	&dev_attr_skipped_blocks.attr, &dev_attr_added_blocks.attr, &dev_attr_target_node.attr,
	&dev_attr_resource.attr,       &dev_attr_size.attr,	    &dev_attr_block_size.attr,
	NULL,
};
ATTRIBUTE_GROUPS(tmk);

static int tmk_check_params(struct tmkmem *t)
{
	int i;

	t->block = memory_block_size_bytes();
	if (tm_parse_range(range, &t->start, &t->size)) {
		pr_err("range=%s is not START,SIZE; load with e.g. range=0x40000000,256M (the numbers of memmap=256M!1G)\n",
		       range ? range : "(not given)");
		return -EINVAL;
	}
	if (!IS_ALIGNED(t->start | t->size, t->block)) {
		pr_err("range %#llx-%#llx (size %#llx) is not aligned to the memory block size %#llx; start and size must be multiples of it (/sys/devices/system/memory/block_size_bytes)\n",
		       t->start, t->start + t->size - 1, t->size, t->block);
		return -EINVAL;
	}
	if (target_node != NUMA_NO_NODE && !tm_node_possible(target_node)) {
		pr_err("target_node=%d does not exist on this machine (possible nodes: %*pbl); pick one of those\n",
		       target_node, nodemask_pr_args(&node_possible_map));
		return -EINVAL;
	}
	for (i = 0; i < inject_bad_page_count; i++) {
		if (inject_bad_page[i] >= t->size) {
			pr_err("inject_bad_page=%#lx is past the end of the range (size %#llx)\n",
			       inject_bad_page[i], t->size);
			return -EINVAL;
		}
	}
	t->nblocks = t->size / t->block;
	return 0;
}

static int tmk_claim(struct tmkmem *t)
{
	struct tm_owner owner;
	const char *kind;

	t->res_name = kstrdup("tiermem_kmem", GFP_KERNEL);
	if (!t->res_name)
		return -ENOMEM;
	t->res = request_mem_region(t->start, t->size, t->res_name);
	if (!t->res) {
		kfree(t->res_name);
		t->res_name = NULL;
		tm_find_owner(t->start, t->size, &owner);
		pr_err("range %#llx-%#llx is already claimed by \"%s\" (busy at %#llx-%#llx, see /proc/iomem); unload that driver or pick a free range\n",
		       t->start, t->start + t->size - 1, owner.name, owner.start, owner.end);
		return -EBUSY;
	}
	kind = tm_reserved_kind(t->start, t->size);
	if (!kind) {
		pr_err("range %#llx-%#llx is not reserved memory (want Persistent Memory (legacy), Persistent Memory or Soft Reserved in /proc/iomem); reserve it with memmap=SIZE!START\n",
		       t->start, t->start + t->size - 1);
		release_mem_region(t->start, t->size);
		t->res = NULL;
		kfree(t->res_name);
		t->res_name = NULL;
		return -EINVAL;
	}
	/*
	 * Claimed busy, nobody else can take the range; made non-busy right after, so that
	 * add_memory_driver_managed() can nest each block's "System RAM (tiermem_kmem)"
	 * inside it (the same arrangement as dax kmem's). The skipped blocks get busy
	 * claims of their own below.
	 */
	t->res->flags = IORESOURCE_MEM;
	pr_info("claimed %#llx-%#llx (%s)\n", t->start, t->start + t->size - 1, kind);
	return 0;
}

/* Whether block i reads back cleanly. */
static int tmk_scrub_block(struct tmkmem *t, unsigned long i, unsigned long *bad)
{
	u64 bstart = t->start + i * t->block;
	unsigned long pages = t->block >> PAGE_SHIFT, first = 0;
	void *kaddr;
	long nbad;
	int j;

	bitmap_zero(bad, pages);
	kaddr = memremap(bstart, t->block, MEMREMAP_WB);
	if (!kaddr) {
		pr_err("block %#llx-%#llx: cannot map it for the scrub; skipping it\n", bstart,
		       bstart + t->block - 1);
		return -ENOMEM;
	}
	nbad = tm_scrub(kaddr, t->block, bad, 0);
	memunmap(kaddr);
	if (nbad < 0)
		return nbad;
	for (j = 0; j < inject_bad_page_count; j++) {
		if (inject_bad_page[j] < i * t->block || inject_bad_page[j] >= (i + 1) * t->block)
			continue;
		pr_warn("TEST ONLY: inject_bad_page marks the page at offset %#lx (%#llx) bad\n",
			inject_bad_page[j] & PAGE_MASK, t->start + (inject_bad_page[j] & PAGE_MASK));
		set_bit((inject_bad_page[j] - i * t->block) >> PAGE_SHIFT, bad);
		nbad++;
	}
	if (nbad) {
		first = find_first_bit(bad, pages);
		pr_err("block %#llx-%#llx: scrub found %u bad page(s), first at %#llx; skipping the block\n",
		       bstart, bstart + t->block - 1, bitmap_weight(bad, pages),
		       bstart + ((u64)first << PAGE_SHIFT));
		return -EIO;
	}
	return 0;
}

static void tmk_remove_blocks(struct tmkmem *t)
{
	unsigned long i;
	int rc;

	for (i = 0; t->state && i < t->nblocks; i++) {
		u64 bstart = t->start + i * t->block;

		if (t->skipped && t->skipped[i])
			release_mem_region(bstart, t->block);
		if (t->state[i] != TMK_ADDED)
			continue;
		rc = offline_and_remove_memory(bstart, t->block);
		if (rc) {
			pr_err("block %#llx-%#llx cannot be offlined (error %d: the kernel could not move what is in it); it stays online as System RAM until reboot. Online blocks as online_movable (auto_online_blocks) to avoid this\n",
			       bstart, bstart + t->block - 1, rc);
			t->leak = true;
			continue;
		}
		t->state[i] = TMK_SKIPPED;
	}
}

static void tmk_teardown(struct tmkmem *t)
{
	if (t->dev)
		device_unregister(t->dev);
	t->dev = NULL;
	tmk_remove_blocks(t);
	kfree(t->skipped);
	kfree(t->state);
	if (t->leak) {
		/* Still parents of online memory: keep them, and say what is left behind. */
		pr_err("leaving %#llx-%#llx claimed: part of it is still online\n", t->start,
		       t->start + t->size - 1);
		return;
	}
	/*
	 * Not release_mem_region(): that only frees busy resources, and ours was made
	 * non-busy for the blocks to nest in; it would descend into it and miss it.
	 */
	if (t->res) {
		release_resource(t->res);
		kfree(t->res);
	}
	kfree(t->res_name);
	kfree(t->ram_name);
	memset(t, 0, sizeof(*t));
}

static int __init tmk_init(void)
{
	struct tmkmem *t = &tmk0;
	unsigned long *bad = NULL, i, added = 0;
	int rc;

	rc = tmk_check_params(t);
	if (rc)
		return rc;
	rc = tmk_claim(t);
	if (rc)
		return rc;
	t->node = target_node != NUMA_NO_NODE ? target_node : phys_to_target_node(t->start);
	if (t->node == NUMA_NO_NODE)
		t->node = memory_add_physaddr_to_nid(t->start);

	rc = -ENOMEM;
	t->ram_name = kstrdup("System RAM (tiermem_kmem)", GFP_KERNEL);
	t->state = kcalloc(t->nblocks, sizeof(*t->state), GFP_KERNEL);
	t->skipped = kcalloc(t->nblocks, sizeof(*t->skipped), GFP_KERNEL);
	bad = bitmap_zalloc(t->block >> PAGE_SHIFT, GFP_KERNEL);
	if (!t->ram_name || !t->state || !t->skipped || !bad)
		goto fail;

	for (i = 0; i < t->nblocks; i++) {
		u64 bstart = t->start + i * t->block;

		if (tmk_scrub_block(t, i, bad)) {
			t->state[i] = TMK_SKIPPED;
			/* Keep the bad block away from any other driver. */
			t->skipped[i] = request_mem_region(bstart, t->block,
							   "tiermem_kmem (skipped: bad block)");
			continue;
		}
		rc = add_memory_driver_managed(t->node, bstart, t->block, t->ram_name, MHP_NONE);
		if (rc) {
			pr_err("block %#llx-%#llx: adding it to node %d failed (error %d)\n",
			       bstart, bstart + t->block - 1, t->node, rc);
			t->state[i] = TMK_FAILED;
			continue;
		}
		t->state[i] = TMK_ADDED;
		added++;
	}
	bitmap_free(bad);
	bad = NULL;
	if (!added) {
		pr_err("no block of %#llx-%#llx could be added to node %d; nothing to do\n",
		       t->start, t->start + t->size - 1, t->node);
		rc = -EIO;
		goto fail;
	}

	tmk_class = class_create(THIS_MODULE, "tiermem_kmem");
	if (IS_ERR(tmk_class)) {
		rc = PTR_ERR(tmk_class);
		tmk_class = NULL;
		goto fail;
	}
	t->dev = device_create_with_groups(tmk_class, NULL, MKDEV(0, 0), t, tmk_groups,
					   "tmkmem%d", 0);
	if (IS_ERR(t->dev)) {
		rc = PTR_ERR(t->dev);
		t->dev = NULL;
		goto fail;
	}
	pr_info("%#llx-%#llx: added %lu of %lu block(s) of %llu MiB to node %d (%s)\n", t->start,
		t->start + t->size - 1, added, t->nblocks, t->block >> 20, t->node,
		node_online(t->node) ? "node online" : "node not online");
	if (!node_state(t->node, N_MEMORY))
		pr_warn("the blocks were added offline (auto_online_blocks is offline); online them with: echo online_movable > /sys/devices/system/memory/memoryN/state\n");
	return 0;

fail:
	bitmap_free(bad);
	tmk_teardown(t);
	if (tmk_class)
		class_destroy(tmk_class);
	tmk_class = NULL;
	return rc;
}

static void __exit tmk_exit(void)
{
	pr_info("removing %#llx-%#llx from node %d\n", tmk0.start, tmk0.start + tmk0.size - 1,
		tmk0.node);
	tmk_teardown(&tmk0);
	class_destroy(tmk_class);
}

module_init(tmk_init);
module_exit(tmk_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tiermem: online a reserved range as System RAM on a NUMA node, block by block, skipping blocks that fail a machine-check-safe scrub");
