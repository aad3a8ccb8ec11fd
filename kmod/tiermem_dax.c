// SPDX-License-Identifier: GPL-2.0
/*
 * tiermem_dax: a device-dax-style character device (/dev/tmdax0) over a physical range
 * that the kernel reserved but no driver owns, e.g. memmap=256M!1G.
 *
 *   insmod tiermem_dax.ko range=0x40000000,256M [align=2M] [target_node=N]
 *
 * Programs mmap() it MAP_SHARED, as they would /dev/daxX.Y. The range is scrubbed with the
 * machine-check-safe copy at load; a page that did not read back cleanly is never mapped: a
 * fault on it delivers SIGBUS (BUS_MCEERR_AR, like a real poisoned page) instead.
 *
 * Test-only: inject_bad_page=OFFSET[,OFFSET...] marks pages bad as if the scrub had found
 * them, because an emulator cannot raise a real machine check. Never use it in production.
 *
 * The sysfs attributes mirror device-dax's (Documentation/ABI/testing/sysfs-bus-dax) under
 * /sys/class/tiermem_dax/tmdax0/: size, align, target_node, numa_node, resource; plus
 * bad_pages (the offsets of the pages that fault with SIGBUS, one per line).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>
#include <linux/vmalloc.h>

#include "tiermem_common.h"

static char *range;
module_param(range, charp, 0444);
MODULE_PARM_DESC(range, "START,SIZE of the reserved physical range, e.g. 0x40000000,256M");

static unsigned long align = SZ_2M;
module_param(align, ulong, 0444);
MODULE_PARM_DESC(align, "mapping unit in bytes (power of two >= PAGE_SIZE; default 2M); start, size and every mapping must be multiples of it");

static int target_node = NUMA_NO_NODE;
module_param(target_node, int, 0444);
MODULE_PARM_DESC(target_node, "NUMA node the memory belongs to (default: the firmware's node for the range)");

/* TEST ONLY: see the file comment. */
static unsigned long inject_bad_page[TM_MAX_INJECT];
static int inject_bad_page_count;
module_param_array(inject_bad_page, ulong, &inject_bad_page_count, 0444);
MODULE_PARM_DESC(inject_bad_page, "TEST ONLY: offsets of pages to treat as failed by the scrub");

struct tmdax {
	u64 start, size;
	int node;
	unsigned long npages;
	unsigned long *bad; /* bit per page; written only before the device appears */
	unsigned long nbad;
	struct resource *res;
	/*
	 * A write-back kernel mapping of the whole range, held for the device's life: it is
	 * what the scrub reads through, and it registers the range's memory type as WB so the
	 * PFNs inserted into programs' page tables are cached too (otherwise the PAT default
	 * for memory outside System RAM is uncached-minus).
	 */
	void *kaddr;
	dev_t devt;
	struct cdev cdev;
	struct device *dev;
};

static struct class *tmdax_class;
static struct tmdax tmdax0;

static vm_fault_t tmdax_fault(struct vm_fault *vmf)
{
	struct tmdax *t = vmf->vma->vm_private_data;
	unsigned long pgoff = vmf->pgoff;

	if (pgoff >= t->npages)
		return VM_FAULT_SIGBUS;
	if (test_bit(pgoff, t->bad)) {
		phys_addr_t phys = t->start + ((u64)pgoff << PAGE_SHIFT);

		/*
		 * VM_FAULT_HWPOISON is a SIGBUS with si_code BUS_MCEERR_AR and the page address,
		 * exactly what a program sees for a real poisoned page, so its recovery (e.g.
		 * tiermem's SIGBUS handler) needs no special case for pages the scrub caught.
		 */
		pr_warn_ratelimited("%s: %s[%d] touched bad page at offset %#lx (%pa); sending SIGBUS\n",
				    dev_name(t->dev), current->comm, task_pid_nr(current),
				    pgoff << PAGE_SHIFT, &phys);
		return VM_FAULT_HWPOISON;
	}
	/*
	 * Page by page: the range has no struct pages (it is not System RAM), and the kernel
	 * only routes huge-page faults to DAX inodes, whose PMD entries it expects to be
	 * backed by struct pages. The mapping is still placed on an `align` boundary (see
	 * tmdax_get_unmapped_area) so a later switch to PMD faults needs no ABI change.
	 */
	return vmf_insert_pfn(vmf->vma, vmf->address, PHYS_PFN(t->start) + pgoff);
}

static const struct vm_operations_struct tmdax_vm_ops = {
	.fault = tmdax_fault,
};

static int tmdax_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct tmdax *t = filp->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;

	/*
	 * A private mapping would need copy-on-write of pages that have no struct page:
	 * device-dax refuses it too.
	 */
	if (!(vma->vm_flags & VM_SHARED)) {
		dev_info_ratelimited(t->dev, "%s[%d]: MAP_PRIVATE refused; map %s with MAP_SHARED\n",
				     current->comm, task_pid_nr(current), dev_name(t->dev));
		return -EINVAL;
	}
	/* Same contract as device-dax: align is the mapping unit. */
	if (!IS_ALIGNED(vma->vm_start | vma->vm_end | off, align)) {
		dev_info_ratelimited(t->dev, "%s[%d]: mapping %#lx-%#lx at offset %#llx is not a multiple of align %#lx; map whole align units\n",
				     current->comm, task_pid_nr(current), vma->vm_start,
				     vma->vm_end, off, align);
		return -EINVAL;
	}
	if (off > t->size || len > t->size - off) {
		dev_info_ratelimited(t->dev, "%s[%d]: mapping %#lx bytes at offset %#llx runs past the end (size %#llx)\n",
				     current->comm, task_pid_nr(current), len, off, t->size);
		return -ENXIO;
	}
	vma->vm_ops = &tmdax_vm_ops;
	vma->vm_private_data = t;
	vma->vm_flags |= VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
	return 0;
}

/*
 * Place mappings so that (address - file offset) is a multiple of align: a 2M-aligned
 * file offset lands on a 2M-aligned address, as with device-dax. Over-ask by align, then
 * trim: the mm picks a free area, we pick the aligned address inside it.
 */
static unsigned long tmdax_get_unmapped_area(struct file *filp, unsigned long addr,
					     unsigned long len, unsigned long pgoff,
					     unsigned long flags)
{
	unsigned long off = pgoff << PAGE_SHIFT, area, aligned;

	if ((flags & MAP_FIXED) || addr || len > TASK_SIZE - align || align <= PAGE_SIZE)
		return current->mm->get_unmapped_area(filp, addr, len, pgoff, flags);
	area = current->mm->get_unmapped_area(filp, 0, len + align, pgoff, flags);
	if (IS_ERR_VALUE(area))
		return current->mm->get_unmapped_area(filp, addr, len, pgoff, flags);
	aligned = area + ((off - area) & (align - 1));
	return aligned;
}

static int tmdax_open(struct inode *inode, struct file *filp)
{
	filp->private_data = container_of(inode->i_cdev, struct tmdax, cdev);
	return 0;
}

/* The cdev holds a module reference while a file (or a mapping of it) is open, so rmmod
 * of a mapped device fails with EBUSY ("Module tiermem_dax is in use") and the range can
 * never be released under a program's feet. */
static const struct file_operations tmdax_fops = {
	.owner = THIS_MODULE,
	.open = tmdax_open,
	.mmap = tmdax_mmap,
	.get_unmapped_area = tmdax_get_unmapped_area,
	.llseek = noop_llseek,
};

static ssize_t size_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmdax *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n", t->size);
}
static DEVICE_ATTR_RO(size);

static ssize_t align_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", align);
}
static DEVICE_ATTR_RO(align);

static ssize_t target_node_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmdax *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", t->node);
}
static DEVICE_ATTR_RO(target_node);

/* device-dax reports the node of the CPU-side affinity as numa_node; for a range we only
 * know one node, the same. */
static ssize_t numa_node_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmdax *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", t->node);
}
static DEVICE_ATTR_RO(numa_node);

static ssize_t resource_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmdax *t = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%#llx\n", t->start);
}
static DEVICE_ATTR_RO(resource);

static ssize_t bad_pages_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tmdax *t = dev_get_drvdata(dev);
	unsigned long bit;
	int len = 0;

	for_each_set_bit(bit, t->bad, t->npages) {
		/* sysfs gives one page; say so rather than truncate silently. */
		if (len > PAGE_SIZE - 40) {
			len += sysfs_emit_at(buf, len, "...\n");
			break;
		}
		len += sysfs_emit_at(buf, len, "%#lx\n", bit << PAGE_SHIFT);
	}
	return len;
}
static DEVICE_ATTR_RO(bad_pages);

static struct attribute *tmdax_attrs[] = {
	&dev_attr_size.attr,	  &dev_attr_align.attr,	    &dev_attr_target_node.attr,
	&dev_attr_numa_node.attr, &dev_attr_resource.attr, &dev_attr_bad_pages.attr,
	NULL,
};
ATTRIBUTE_GROUPS(tmdax);

/* Everything that can be refused, before anything is claimed. */
static int tmdax_check_params(struct tmdax *t)
{
	int i;

	if (tm_parse_range(range, &t->start, &t->size)) {
		pr_err("range=%s is not START,SIZE; load with e.g. range=0x40000000,256M (the numbers of memmap=256M!1G)\n",
		       range ? range : "(not given)");
		return -EINVAL;
	}
	if (align < PAGE_SIZE || !is_power_of_2(align)) {
		pr_err("align=%#lx is not a power of two >= %#lx; use 4K, 2M or 1G\n", align,
		       PAGE_SIZE);
		return -EINVAL;
	}
	if (!IS_ALIGNED(t->start | t->size, align)) {
		pr_err("range %#llx-%#llx (size %#llx) is not aligned to align=%#lx; start and size must be multiples of it: pick an aligned range or a smaller align=\n",
		       t->start, t->start + t->size - 1, t->size, align);
		return -EINVAL;
	}
	if (target_node != NUMA_NO_NODE && !tm_node_possible(target_node)) {
		pr_err("target_node=%d does not exist on this machine (possible nodes: %*pbl); pick one of those or leave target_node unset\n",
		       target_node, nodemask_pr_args(&node_possible_map));
		return -EINVAL;
	}
	t->npages = t->size >> PAGE_SHIFT;
	for (i = 0; i < inject_bad_page_count; i++) {
		if (inject_bad_page[i] >= t->size) {
			pr_err("inject_bad_page=%#lx is past the end of the range (size %#llx)\n",
			       inject_bad_page[i], t->size);
			return -EINVAL;
		}
	}
	return 0;
}

static int tmdax_claim(struct tmdax *t)
{
	struct tm_owner owner;
	const char *kind;

	t->res = request_mem_region(t->start, t->size, "tiermem_dax");
	if (!t->res) {
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
		return -EINVAL;
	}
	pr_info("claimed %#llx-%#llx (%s)\n", t->start, t->start + t->size - 1, kind);
	return 0;
}

static int tmdax_scrub(struct tmdax *t)
{
	long nbad;
	int i;

	t->bad = kvcalloc(BITS_TO_LONGS(t->npages), sizeof(long), GFP_KERNEL);
	if (!t->bad)
		return -ENOMEM;
	nbad = tm_scrub(t->kaddr, t->size, t->bad, 0);
	if (nbad < 0)
		return nbad;
	if (nbad)
		pr_err("scrub of %#llx-%#llx found %ld bad page(s); they fault with SIGBUS (see bad_pages)\n",
		       t->start, t->start + t->size - 1, nbad);
	for (i = 0; i < inject_bad_page_count; i++) {
		unsigned long pg = inject_bad_page[i] >> PAGE_SHIFT;

		pr_warn("TEST ONLY: inject_bad_page marks the page at offset %#lx (%#llx) bad\n",
			pg << PAGE_SHIFT, t->start + (pg << PAGE_SHIFT));
		set_bit(pg, t->bad);
	}
	t->nbad = bitmap_weight(t->bad, t->npages);
	return 0;
}

static void tmdax_teardown(struct tmdax *t)
{
	if (t->dev)
		device_destroy(tmdax_class, t->devt);
	if (t->devt) {
		cdev_del(&t->cdev);
		unregister_chrdev_region(t->devt, 1);
	}
	if (t->kaddr)
		memunmap(t->kaddr);
	kvfree(t->bad);
	if (t->res)
		release_mem_region(t->start, t->size);
	memset(t, 0, sizeof(*t));
}

static int __init tmdax_init(void)
{
	struct tmdax *t = &tmdax0;
	int rc;

	rc = tmdax_check_params(t);
	if (rc)
		return rc;
	rc = tmdax_claim(t);
	if (rc) {
		t->res = NULL;
		return rc;
	}
	t->node = target_node != NUMA_NO_NODE ? target_node : phys_to_target_node(t->start);
	if (t->node == NUMA_NO_NODE)
		t->node = memory_add_physaddr_to_nid(t->start);

	t->kaddr = memremap(t->start, t->size, MEMREMAP_WB);
	if (!t->kaddr) {
		pr_err("cannot map %#llx-%#llx write-back for the scrub\n", t->start,
		       t->start + t->size - 1);
		rc = -ENOMEM;
		goto fail;
	}
	rc = tmdax_scrub(t);
	if (rc)
		goto fail;

	tmdax_class = class_create(THIS_MODULE, "tiermem_dax");
	if (IS_ERR(tmdax_class)) {
		rc = PTR_ERR(tmdax_class);
		tmdax_class = NULL;
		goto fail;
	}
	rc = alloc_chrdev_region(&t->devt, 0, 1, "tmdax");
	if (rc) {
		t->devt = 0;
		goto fail;
	}
	cdev_init(&t->cdev, &tmdax_fops);
	t->cdev.owner = THIS_MODULE;
	rc = cdev_add(&t->cdev, t->devt, 1);
	if (rc) {
		unregister_chrdev_region(t->devt, 1);
		t->devt = 0;
		goto fail;
	}
	t->dev = device_create_with_groups(tmdax_class, NULL, t->devt, t, tmdax_groups,
					   "tmdax%d", 0);
	if (IS_ERR(t->dev)) {
		rc = PTR_ERR(t->dev);
		t->dev = NULL;
		goto fail;
	}
	dev_info(t->dev, "%#llx-%#llx: %llu MiB, align %#lx, node %d, %lu bad page(s)\n",
		 t->start, t->start + t->size - 1, t->size >> 20, align, t->node, t->nbad);
	return 0;

fail:
	tmdax_teardown(t);
	if (tmdax_class)
		class_destroy(tmdax_class);
	tmdax_class = NULL;
	return rc;
}

static void __exit tmdax_exit(void)
{
	/* No file is open (each holds a module reference), so no mapping can remain. */
	pr_info("releasing %#llx-%#llx\n", tmdax0.start, tmdax0.start + tmdax0.size - 1);
	tmdax_teardown(&tmdax0);
	class_destroy(tmdax_class);
}

module_init(tmdax_init);
module_exit(tmdax_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("tiermem: device-dax-style char device over a reserved physical range, scrubbed at load");
