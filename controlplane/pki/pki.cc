#include "controlplane/pki/pki.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace musketeer::pki {
namespace {

constexpr long kValidDays = 3650;

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertDeleter {
  void operator()(X509* c) const { X509_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n);
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return absl::InternalError("cannot encode a private key");
  }
  return BioString(bio.get());
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert))
    return absl::InternalError("cannot encode a certificate");
  return BioString(bio.get());
}

KeyPtr NewKey() { return KeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` named `cn`, issued by `issuer` (the caller signs it), or
// self-issued when issuer is null. Serial numbers are 128 random bits, as RFC 5280 suggests.
CertPtr NewCert(EVP_PKEY* key, const std::string& cn, X509* issuer) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidDays * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("musketeer"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

}  // namespace

absl::Status WriteFileAtomic(const std::string& path, const std::string& contents, int mode) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", strerror(errno)));
  fchmod(fd, mode);  // the umask may have narrowed it; a key must end at exactly 0600
  bool ok = write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
            fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Authority::Keys {
  KeyPtr key;
  CertPtr cert;
};

Authority::Authority(std::string ca_path, std::unique_ptr<Keys> keys)
    : ca_path_(std::move(ca_path)), keys_(std::move(keys)) {}
Authority::~Authority() = default;

absl::StatusOr<std::unique_ptr<Authority>> Authority::OpenOrCreate(const std::string& dir,
                                                                   const std::string& common_name) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  chmod(dir.c_str(), 0700);
  const std::string cert_path = dir + "/ca.pem", key_path = dir + "/ca-key.pem";
  auto keys = std::make_unique<Keys>();
  if (std::filesystem::exists(cert_path) && std::filesystem::exists(key_path)) {
    auto cert_pem = ReadFile(cert_path);
    auto key_pem = ReadFile(key_path);
    if (!cert_pem.ok() || !key_pem.ok()) return absl::InternalError("cannot read the CA in " + dir);
    BioPtr cb(BIO_new_mem_buf(cert_pem->data(), cert_pem->size()));
    BioPtr kb(BIO_new_mem_buf(key_pem->data(), key_pem->size()));
    keys->cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    keys->key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    if (!keys->cert || !keys->key) {
      return absl::DataLossError(absl::StrCat("the CA in ", dir,
                                              " is unreadable; move it away to create a new one "
                                              "(every node certificate must then be regenerated)"));
    }
  } else {
    keys->key = NewKey();
    if (!keys->key) return absl::InternalError("cannot generate the CA key");
    keys->cert = NewCert(keys->key.get(), common_name, nullptr);
    AddExtension(keys->cert.get(), keys->cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(keys->cert.get(), keys->cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    AddExtension(keys->cert.get(), keys->cert.get(), NID_subject_key_identifier, "hash");
    if (!X509_sign(keys->cert.get(), keys->key.get(), EVP_sha256()))
      return absl::InternalError("cannot sign the CA");
    auto key_pem = KeyPem(keys->key.get());
    auto cert_pem = CertPem(keys->cert.get());
    if (!key_pem.ok() || !cert_pem.ok()) return absl::InternalError("cannot encode the CA");
    if (auto s = WriteFileAtomic(key_path, *key_pem, 0600); !s.ok()) return s;
    if (auto s = WriteFileAtomic(cert_path, *cert_pem, 0644); !s.ok()) return s;
  }
  return std::unique_ptr<Authority>(new Authority(cert_path, std::move(keys)));
}

absl::StatusOr<Bundle> Authority::IssueServer(const std::string& out_dir, const std::string& cn,
                                              const std::vector<std::string>& ips,
                                              const std::vector<std::string>& dns_names) {
  return Issue(out_dir, cn, ips, dns_names, /*server=*/true);
}

absl::StatusOr<Bundle> Authority::IssueClient(const std::string& out_dir, const std::string& cn) {
  return Issue(out_dir, cn, {}, {}, /*server=*/false);
}

absl::StatusOr<Bundle> Authority::Issue(const std::string& out_dir, const std::string& cn,
                                        const std::vector<std::string>& ips,
                                        const std::vector<std::string>& dns_names, bool server) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", out_dir, ": ", ec.message()));
  chmod(out_dir.c_str(), 0700);
  KeyPtr key = NewKey();
  if (!key) return absl::InternalError("cannot generate a key");
  CertPtr cert = NewCert(key.get(), cn, keys_->cert.get());
  AddExtension(cert.get(), keys_->cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert.get(), keys_->cert.get(), NID_key_usage,
               "critical,digitalSignature,keyEncipherment");
  AddExtension(cert.get(), keys_->cert.get(), NID_ext_key_usage,
               server ? "serverAuth" : "clientAuth");
  AddExtension(cert.get(), keys_->cert.get(), NID_authority_key_identifier, "keyid:always");
  if (server) {
    std::vector<std::string> sans;
    for (const auto& ip : ips) sans.push_back("IP:" + ip);
    for (const auto& dns : dns_names) sans.push_back("DNS:" + dns);
    if (!sans.empty() && !AddExtension(cert.get(), keys_->cert.get(), NID_subject_alt_name,
                                       absl::StrJoin(sans, ","))) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid subjectAltName for ", cn, ": ", absl::StrJoin(sans, ",")));
    }
  }
  if (!X509_sign(cert.get(), keys_->key.get(), EVP_sha256()))
    return absl::InternalError("cannot sign a certificate");
  auto key_pem = KeyPem(key.get());
  auto cert_pem = CertPem(cert.get());
  auto ca_pem = CertPem(keys_->cert.get());
  if (!key_pem.ok() || !cert_pem.ok() || !ca_pem.ok())
    return absl::InternalError("cannot encode a certificate");
  Bundle bundle{out_dir};
  if (auto s = WriteFileAtomic(bundle.key(), *key_pem, 0600); !s.ok()) return s;
  if (auto s = WriteFileAtomic(bundle.cert(), *cert_pem, 0644); !s.ok()) return s;
  if (auto s = WriteFileAtomic(bundle.ca(), *ca_pem, 0644); !s.ok()) return s;
  return bundle;
}

}  // namespace musketeer::pki
