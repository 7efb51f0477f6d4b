// The pure parts of the ssh driver: the ssh command line, host keys and fingerprints, pins,
// /etc/os-release and the remote scripts' reports. The driver against real SSH hosts is
// tested by tests/e2e/ssh_test.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_join.h"
#include "controlplane/nodes/ssh.h"
#include "controlplane/state/state_store.h"

namespace musketeer::nodes::ssh {
namespace {

// Keys made with ssh-keygen; fingerprints as `ssh-keygen -lf` printed them.
constexpr char kEd25519[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA04MOtuSw8sNBonSNX1lRIjToi2K+2FUkf6ykWPDSQp root@vm";
constexpr char kEd25519Fp[] = "SHA256:qyz23dRaXtRLAko+eOz7SGXZ+7Gene1/mgGyzkR4NOE";
constexpr char kEcdsa[] =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHeAD/Ukqpc3pfI7rWDQ/"
    "7H4EeT5mYu9u4O98Ie370zoPneE7WWNhvy/"
    "GAIoAdOHyTMSYRYmmoAOLZQF/ghfbo4=";
constexpr char kEcdsaFp[] = "SHA256:Wc8tHf2fWjbouq2quQzcNzn3AhaDvl63WQCxeZBrDZM";

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(SshArgvTest, ChecksHostKeysStrictlyAgainstMusketeersFile) {
  Target t{"10.0.0.5", 2222, "deploy", "/keys/id"};
  CommandOptions o;
  o.known_hosts = "/state/ssh/n1/known_hosts";
  auto argv = SshArgv(t, o, "sh -s");
  const std::string line = absl::StrJoin(argv, " ");
  EXPECT_EQ(argv.front(), "ssh");
  EXPECT_TRUE(Contains(argv, "StrictHostKeyChecking=yes")) << line;
  EXPECT_TRUE(Contains(argv, "UserKnownHostsFile=/state/ssh/n1/known_hosts")) << line;
  EXPECT_TRUE(Contains(argv, "GlobalKnownHostsFile=/dev/null")) << line;
  EXPECT_TRUE(Contains(argv, "BatchMode=yes")) << line;
  EXPECT_TRUE(Contains(argv, "HostKeyAlias=musketeer.10.0.0.5.2222")) << line;
  EXPECT_TRUE(Contains(argv, "ControlPath=none")) << line;
  EXPECT_NE(line.find("-p 2222 -l deploy -i /keys/id -o IdentitiesOnly=yes -- 10.0.0.5 sh -s"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("accept-new"), std::string::npos) << line;
  EXPECT_EQ(line.find("StrictHostKeyChecking=no"), std::string::npos) << line;
}

TEST(SshArgvTest, FirstContactAcceptsNewKeysOnly) {
  CommandOptions o;
  o.known_hosts = "/k";
  o.accept_new = true;
  o.config_file = "/etc/mk/ssh_config";
  auto argv = SshArgv(Target{"host1", 0, "", ""}, o, "true");
  const std::string line = absl::StrJoin(argv, " ");
  EXPECT_TRUE(Contains(argv, "StrictHostKeyChecking=accept-new")) << line;
  EXPECT_EQ(argv[1], "-F");
  EXPECT_EQ(argv[2], "/etc/mk/ssh_config");
  // Nothing given: ssh's defaults and its config decide port, user and keys.
  EXPECT_FALSE(Contains(argv, "-p")) << line;
  EXPECT_FALSE(Contains(argv, "-l")) << line;
  EXPECT_FALSE(Contains(argv, "-i")) << line;
  EXPECT_EQ(argv[argv.size() - 3], "--");
  EXPECT_EQ(argv.back(), "true");
}

TEST(SshTargetTest, ValidatesWhatBecomesArguments) {
  EXPECT_TRUE(ValidateTarget(Target{"host-1.example.com", 0, "", ""}).ok());
  EXPECT_TRUE(ValidateTarget(Target{"10.213.160.2", 22, "root", ""}).ok());
  EXPECT_TRUE(ValidateTarget(Target{"fe80::1", 0, "", ""}).ok());
  EXPECT_FALSE(ValidateTarget(Target{"", 0, "", ""}).ok());
  EXPECT_FALSE(ValidateTarget(Target{"-oProxyCommand=touch /tmp/x", 0, "", ""}).ok());
  EXPECT_FALSE(ValidateTarget(Target{"host; rm -rf /", 0, "", ""}).ok());
  EXPECT_FALSE(ValidateTarget(Target{"host", 0, "-lroot", ""}).ok());
  EXPECT_FALSE(ValidateTarget(Target{"host", 0, "", "relative/key"}).ok());
  EXPECT_EQ(Target({"h", 0, "", ""}).Display(), "h");
  EXPECT_EQ(Target({"h", 2222, "root", ""}).Display(), "root@h:2222");
  EXPECT_EQ(Target({"h", 0, "", ""}).KeyId(), "h:22");
}

TEST(HostKeyTest, FingerprintsAsSshKeygenDoes) {
  auto ed = ParseKnownHostsLine(std::string("host1 ") + kEd25519);
  ASSERT_TRUE(ed.ok()) << ed.status();
  EXPECT_EQ(ed->type, "ssh-ed25519");
  EXPECT_EQ(ed->Fingerprint(), kEd25519Fp);
  EXPECT_EQ(ed->Label(), std::string("ED25519 ") + kEd25519Fp);
  auto ec = ParseKnownHostsLine(std::string("[10.0.0.2]:2222 ") + kEcdsa);
  ASSERT_TRUE(ec.ok()) << ec.status();
  EXPECT_EQ(ec->Fingerprint(), kEcdsaFp);
  EXPECT_EQ(ec->Label().substr(0, 6), "ECDSA ");
}

TEST(HostKeyTest, ReadsTheFirstKeyOfAFileAndRefusesGarbage) {
  auto k = FirstHostKey(std::string("# comment\n\nmusketeer.h.22 ") + (kEd25519 + 0) + "\n");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_FALSE(FirstHostKey("").ok());
  EXPECT_FALSE(ParseKnownHostsLine("host ssh-ed25519").ok());
  EXPECT_FALSE(ParseKnownHostsLine("host rot13 AAAA").ok());
  EXPECT_FALSE(ParseKnownHostsLine("host ssh-ed25519 not*base64").ok());
  HostKey key{"ssh-ed25519",
              "AAAAC3NzaC1lZDI1NTE5AAAAIA04MOtuSw8sNBonSNX1lRIjToi2K+2FUkf6ykWPDSQp"};
  EXPECT_EQ(KnownHostsLine("musketeer.h.22", key),
            "musketeer.h.22 ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIA04MOtuSw8sNBonSNX1lRIjToi2K+2FUkf6ykWPDSQp\n");
  auto again = ParseKnownHostsLine(KnownHostsLine("a", key));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Fingerprint(), kEd25519Fp);
}

TEST(HostKeyTest, PinsMustBeSha256Fingerprints) {
  auto p = ParseFingerprint(std::string(" ") + kEd25519Fp + "\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, kEd25519Fp);
  EXPECT_FALSE(ParseFingerprint("MD5:aa:bb").ok());
  EXPECT_FALSE(ParseFingerprint("SHA256:short").ok());
  EXPECT_FALSE(ParseFingerprint("qyz23dRaXtRLAko+eOz7SGXZ+7Gene1/mgGyzkR4NOE").ok());
}

TEST(OsReleaseTest, ParsesQuotesAndClassifiesPackageManagers) {
  auto debian = ParseOsRelease(
      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
      "VERSION_ID=\"12\"\nID=debian\n# comment\nHOME_URL='https://www.debian.org/'\n");
  EXPECT_EQ(debian["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(debian["ID"], "debian");
  EXPECT_EQ(debian["HOME_URL"], "https://www.debian.org/");
  auto os = ClassifyOs(debian);
  ASSERT_TRUE(os.ok()) << os.status();
  EXPECT_EQ(os->package_manager, "apt");
  EXPECT_EQ(os->packages, "docker.io");

  auto mint = ClassifyOs(ParseOsRelease("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"));
  ASSERT_TRUE(mint.ok());
  EXPECT_EQ(mint->package_manager, "apt");
  auto rocky = ClassifyOs(ParseOsRelease("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"));
  ASSERT_TRUE(rocky.ok());
  EXPECT_EQ(rocky->package_manager, "dnf");

  auto alpine = ClassifyOs(ParseOsRelease("ID=alpine\nPRETTY_NAME=\"Alpine Linux v3.19\"\n"));
  ASSERT_FALSE(alpine.ok());
  EXPECT_EQ(alpine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(alpine.status().message().find("unsupported operating system 'Alpine Linux v3.19'"),
            std::string::npos)
      << alpine.status();
  EXPECT_FALSE(ClassifyOs({}).ok());
}

TEST(ReportTest, ReadsKeyValueLinesAndTheServerAddress) {
  auto r = ParseReport("uid=0\nnoise without equals\nconn=10.0.0.1 5000 10.0.0.2 22\n=x\nuid=1\n");
  EXPECT_EQ(r["uid"], "1");
  EXPECT_EQ(r["conn"], "10.0.0.1 5000 10.0.0.2 22");
  EXPECT_EQ(r.count(""), 0u);
  auto a = ServerAddress(r["conn"]);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "10.0.0.2");
  EXPECT_FALSE(ServerAddress("").ok());
}

TEST(ShellQuoteTest, QuotesSingleQuotes) {
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(SshHostKeyStoreTest, KeepsTrustedKeysAcrossRestartsAndReplacesThem) {
  char tmpl[] = "/tmp/ssh-store-test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string db = std::string(tmpl) + "/state.db";
  {
    auto store = state::StateStore::Open(db);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_FALSE((*store)->GetSshHostKey("h1:22").has_value());
    ASSERT_TRUE((*store)
                    ->PutSshHostKey({"h1:22", "ssh-ed25519", "AAAA", kEd25519Fp,
                                     "trusted on first use", "2026-11-26T12:00:00Z"})
                    .ok());
  }
  auto store = state::StateStore::Open(db);
  ASSERT_TRUE(store.ok());
  auto k = (*store)->GetSshHostKey("h1:22");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->fingerprint, kEd25519Fp);
  EXPECT_EQ(k->how, "trusted on first use");
  ASSERT_TRUE((*store)
                  ->PutSshHostKey({"h1:22", "ecdsa-sha2-nistp256", "BBBB", kEcdsaFp, "pinned",
                                   "2026-11-26T13:00:00Z"})
                  .ok());
  EXPECT_EQ((*store)->GetSshHostKey("h1:22")->fingerprint, kEcdsaFp);
  EXPECT_FALSE((*store)->GetSshHostKey("h1:2222").has_value());
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace musketeer::nodes::ssh
