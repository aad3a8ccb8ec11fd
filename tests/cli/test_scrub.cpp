// `tiermem badblocks`, `scrub`, `online` and `offline` on the constructed NVDIMM tree
// (tests/fixtures/badblocks/nvdimm: dax0.0 in devdax mode on region0 with 3 known bad ranges,
// dax1.0 in system-ram mode): the listing and every refusal that needs no real device. The
// real device runs are the VM scenarios scrub.sh and online.sh.
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace t = tiermem::test;
namespace fs = std::filesystem;

namespace {

std::string nvdimm() { return t::fixture_file("badblocks/nvdimm"); }

t::Run on_nvdimm(const std::string &args, const std::string &root = nvdimm()) {
  return t::run_cli("--fsroot '" + root + "' " + args);
}

fs::path copy_nvdimm(const t::TempDir &dir);

/**
 * As an unprivileged user: `setpriv` to nobody when the tests run as root, on a copy of the
 * tree that nobody can reach (the checkout itself may sit below a directory only root enters).
 */
t::Run as_nobody(const std::string &args) {
  if (::geteuid() != 0) return on_nvdimm(args);
  t::TempDir dir;
  const auto root = copy_nvdimm(dir);
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  return t::run_command("setpriv --reuid 65534 --regid 65534 --clear-groups " TIERMEM_CLI
                        " --fsroot '" + root.string() + "' " + args);
}

/** A refusal: exit 2, nothing on stdout, one line on stderr holding `text`. */
void check_refused(const t::Run &r, const std::string &text) {
  CAPTURE(r.err);
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(t::lines(r.err) == 1);
  CHECK(r.err.find(text) != std::string::npos);
}

fs::path copy_nvdimm(const t::TempDir &dir) {
  fs::path dst = dir.path() / "root";
  fs::copy(nvdimm(), dst, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  return dst;
}

}  // namespace

TEST_CASE("tiermem badblocks lists each known bad range at its device offset and exits 1") {
  const auto r = on_nvdimm("badblocks");
  CHECK(r.status == 1);
  CHECK(r.out.find("dax0.0      0x200000        4.5 KiB") != std::string::npos);
  CHECK(r.out.find("dax0.0      0x10003000      8.0 KiB") != std::string::npos);
  CHECK(r.out.find("dax0.0      0x3edff000      4.0 KiB") != std::string::npos);
  CHECK(r.out.find("dax1.0: in no NVDIMM region") != std::string::npos);
}

TEST_CASE("tiermem badblocks --json gives offsets and lengths in bytes") {
  const auto r = on_nvdimm("badblocks --json /dev/dax0.0");
  REQUIRE(r.status == 1);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["devices"].size() == 1);
  const auto &d = j["devices"][0];
  CHECK(d["name"] == "dax0.0");
  CHECK(d["has_region"] == true);
  CHECK(d["bad_blocks"][0] == nlohmann::json({{"offset", 0x200000}, {"length", 4608}}));
  CHECK(d["bad_blocks"].size() == 3);
}

TEST_CASE("a device with no known bad blocks exits 0") {
  const auto r = on_nvdimm("badblocks dax1.0");
  CHECK(r.status == 0);
  CHECK(r.out == "dax1.0: in no NVDIMM region; the kernel keeps no bad block list for it\n");
}

TEST_CASE("a malformed badblocks file ends the listing with one line naming it") {
  t::TempDir dir;
  const auto root = copy_nvdimm(dir);
  t::write_file(root / "sys/devices/ndbus0/region0/badblocks", "40960 8\n40968\n");
  check_refused(on_nvdimm("badblocks", root.string()),
                "region0/badblocks: line 2 '40968' does not have two numbers");
}

TEST_CASE("badblocks without the right to read the addresses says to run as root") {
  if (::geteuid() != 0) return;  // needs a root-owned tree that nobody may not read
  t::TempDir dir;
  const auto root = copy_nvdimm(dir);
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  fs::permissions(root / "sys/devices/ndbus0/region0/resource", fs::perms::owner_read);
  const auto r = t::run_command("setpriv --reuid 65534 --regid 65534 --clear-groups " TIERMEM_CLI
                                " --fsroot '" + root.string() + "' badblocks dax0.0");
  check_refused(r, "region0/resource: Permission denied; check permissions (the addresses are root-only: run tiermem badblocks as root)");
}

TEST_CASE("a device that is not a dax device is refused by every command") {
  for (const char *cmd : {"badblocks", "scrub", "online", "offline"}) {
    CAPTURE(cmd);
    check_refused(on_nvdimm(std::string(cmd) + " /dev/sda"),
                  "tiermem: /dev/sda is not a dax device (no ");
  }
}

TEST_CASE("a device already online as system-ram is refused by scrub and online") {
  check_refused(on_nvdimm("scrub dax1.0"),
                "dax1.0 is already online as system-ram (driver kmem); run `tiermem offline dax1.0` before scrubbing it");
  check_refused(on_nvdimm("online dax1.0"), "dax1.0 is already online as system-ram (driver kmem); nothing to do");
}

TEST_CASE("offline of a device already in devdax mode is refused") {
  check_refused(on_nvdimm("offline dax0.0"), "dax0.0 is already in devdax mode; nothing to do");
}

TEST_CASE("an unbound device is refused with the daxctl command that binds it") {
  t::TempDir dir;
  const auto root = copy_nvdimm(dir);
  fs::remove(root / "sys/devices/ndbus0/region0/dax0.0/dax0.0/driver");
  check_refused(on_nvdimm("scrub dax0.0", root.string()),
                "dax0.0 is not bound to a driver, not device_dax; run `daxctl reconfigure-device --mode=devdax dax0.0` first");
  check_refused(on_nvdimm("offline dax0.0", root.string()), "`tiermem offline` only reverses `tiermem online`");
}

TEST_CASE("online and offline without privileges are refused naming the remedy") {
  check_refused(as_nobody("online dax0.0"), "tiermem: online dax0.0 needs root");
  check_refused(as_nobody("offline dax1.0"), "tiermem: offline dax1.0 needs root");
}

TEST_CASE("online --node other than the device's target node is refused") {
  if (::geteuid() != 0) return;  // the privilege check comes first (previous test)
  check_refused(on_nvdimm("online dax0.0 --node 3"),
                "dax0.0 comes online as node 2 (its target_node, set by the platform), not node 3");
}

TEST_CASE("scrub of a device whose node is missing says so") {
  if (fs::exists("/dev/dax0.0")) return;  // a real device: the VM scenario covers it
  check_refused(on_nvdimm("scrub dax0.0"),
                "tiermem: cannot open /dev/dax0.0: No such file or directory; the device node is missing");
}

TEST_CASE("scrub without a device is a usage error") {
  const auto r = t::run_cli("scrub");
  CHECK(r.status == 2);
  CHECK(r.err.find("DEVICE is required") != std::string::npos);
}
