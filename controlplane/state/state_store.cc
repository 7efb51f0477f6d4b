#include "controlplane/state/state_store.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace musketeer::state {
namespace {

std::string Now() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
}

// Bytes bound as a BLOB (a std::string binds as TEXT).
struct Blob {
  const std::string& bytes;
};

// A prepared statement bound in order; finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  template <class... Args>
  Stmt& Bind(const Args&... args) {
    int i = 0;
    (BindOne(++i, args), ...);
    return *this;
  }
  int Step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  std::string Text(int col) {
    auto* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Bytes(int col) {
    const void* b = sqlite3_column_blob(stmt_, col);
    return b ? std::string(static_cast<const char*>(b), sqlite3_column_bytes(stmt_, col)) : "";
  }

 private:
  void BindOne(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), s.size(), SQLITE_TRANSIENT);
  }
  void BindOne(int i, const char* s) { sqlite3_bind_text(stmt_, i, s, -1, SQLITE_TRANSIENT); }
  void BindOne(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindOne(int i, int v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindOne(int i, const Blob& b) {
    sqlite3_bind_blob64(stmt_, i, b.bytes.data(), b.bytes.size(), SQLITE_TRANSIENT);
  }
  sqlite3_stmt* stmt_ = nullptr;
};

Operation RowOperation(int64_t id, std::string request_id, std::string kind, std::string target,
                       std::string state, std::string result) {
  Operation op;
  op.id = id;
  op.request_id = std::move(request_id);
  op.kind = std::move(kind);
  op.target = std::move(target);
  op.state = std::move(state);
  op.result = std::move(result);
  return op;
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tokens (
  name TEXT PRIMARY KEY, role INTEGER NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
  id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT UNIQUE, kind TEXT NOT NULL,
  target TEXT NOT NULL, state TEXT NOT NULL, result TEXT NOT NULL DEFAULT '',
  started_at TEXT NOT NULL, finished_at TEXT);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, method TEXT NOT NULL,
  target TEXT NOT NULL, result TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS routing (
  service TEXT PRIMARY KEY, mode TEXT NOT NULL, edge_service TEXT NOT NULL, ports_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volume_contents (
  name TEXT PRIMARY KEY, content BLOB NOT NULL, digest TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS autoscale (service TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ssh_host_keys (
  target TEXT PRIMARY KEY, key_type TEXT NOT NULL, key_base64 TEXT NOT NULL,
  fingerprint TEXT NOT NULL, how TEXT NOT NULL, recorded_at TEXT NOT NULL);
)sql";

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

absl::StatusOr<Role> ParseRole(const std::string& s) {
  if (s == "viewer") return Role::kViewer;
  if (s == "operator") return Role::kOperator;
  if (s == "admin") return Role::kAdmin;
  return absl::InvalidArgumentError(
      absl::StrCat("role: '", s, "' is not one of viewer, operator, admin"));
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string err = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the state database ", path, ": ", err));
  }
  chmod(path.c_str(), 0600);  // token hashes and the audit log are nobody else's business
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<StateStore> store(new StateStore(db));
  std::lock_guard lock(store->mu_);
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;",
                          "PRAGMA foreign_keys=ON;", kSchema}) {
    if (auto s = store->Exec(sql); !s.ok()) return s;
  }
  // Columns added since the first schema: added to an older database, once.
  for (const char* sql : {"ALTER TABLE operations ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''",
                          "ALTER TABLE operations ADD COLUMN code INTEGER NOT NULL DEFAULT 0",
                          "ALTER TABLE operations ADD COLUMN message TEXT NOT NULL DEFAULT ''"}) {
    if (auto s = store->Exec(sql); !s.ok() && !absl::StrContains(s.message(), "duplicate column")) {
      return s;
    }
  }
  // Columns added after the first release: a database made before gets them here.
  for (const char* column : {"expires_at", "last_used_at"}) {
    absl::Status s = store->Exec(
        absl::StrCat("ALTER TABLE tokens ADD COLUMN ", column, " TEXT NOT NULL DEFAULT ''"));
    if (!s.ok() && s.message().find("duplicate column") == std::string::npos) return s;
  }
  // The routing and autoscale tables are small and read on every GetService and
  // ListServices: kept in memory, written through.
  Stmt st(store->db_, "SELECT service, mode, edge_service, ports_json FROM routing");
  while (st.Step() == SQLITE_ROW) {
    ServiceRouting r{st.Text(0), st.Text(1), st.Text(2), st.Text(3)};
    store->routing_[r.service] = r;
  }
  Stmt autoscale(store->db_, "SELECT service, state FROM autoscale");
  while (autoscale.Step() == SQLITE_ROW) store->autoscale_[autoscale.Text(0)] = autoscale.Bytes(1);
  return store;
}

StateStore::~StateStore() {
  std::lock_guard lock(mu_);
  sqlite3_close(db_);
}

absl::Status StateStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "unknown";
    sqlite3_free(err);
    return absl::InternalError("state database: " + message);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StateStore::CreateToken(const std::string& name, Role role,
                                                    absl::Time expires_at) {
  unsigned char raw[24];
  if (RAND_bytes(raw, sizeof raw) != 1) return absl::InternalError("no randomness for a token");
  const std::string secret =
      "mk_" + absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(raw), sizeof raw));
  std::lock_guard lock(mu_);
  Stmt st(db_, "INSERT INTO tokens(name, role, hash, created_at, expires_at) VALUES(?,?,?,?,?)");
  const std::string expires =
      expires_at == absl::InfiniteFuture()
          ? ""
          : absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", expires_at, absl::UTCTimeZone());
  int rc = st.Bind(name, static_cast<int>(role), Sha256Hex(secret), Now(), expires).Step();
  if (rc == SQLITE_CONSTRAINT)
    return absl::AlreadyExistsError(
        absl::StrCat("token '", name, "' already exists; delete it first or pick another name"));
  if (rc != SQLITE_DONE)
    return absl::InternalError(absl::StrCat("state database: ", sqlite3_errmsg(db_)));
  return secret;
}

absl::StatusOr<TokenRecord> StateStore::Authenticate(const std::string& secret) {
  const std::string hash = Sha256Hex(secret);
  std::lock_guard lock(mu_);
  auto cached = known_tokens_.find(hash);
  if (cached == known_tokens_.end()) {
    Stmt st(db_,
            "SELECT name, role, created_at, expires_at, last_used_at FROM tokens WHERE hash = ?");
    if (st.Bind(hash).Step() != SQLITE_ROW) {
      return absl::UnauthenticatedError(
          "the token is not valid; ask an admin for one (musketeer token create)");
    }
    KnownToken known{{st.Text(0), static_cast<Role>(st.Int(1)), st.Text(2), st.Text(3), ""}};
    std::string err;
    if (!known.record.expires_at.empty() &&
        !absl::ParseTime(absl::RFC3339_full, known.record.expires_at, &known.expires, &err)) {
      known.expires = absl::InfinitePast();  // unreadable: treated as expired
    }
    cached = known_tokens_.emplace(hash, std::move(known)).first;
  }
  TokenRecord token = cached->second.record;
  const absl::Time now = absl::Now();
  if (now >= cached->second.expires) {
    return absl::UnauthenticatedError(absl::StrCat("token '", token.name, "' expired at ",
                                                   token.expires_at,
                                                   "; ask an admin for a new one (musketeer "
                                                   "token create --ttl ...)"));
  }
  LastUse& use = last_use_[token.name];
  use.used = now;
  token.last_used_at = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone());
  if (now - use.written >= kLastUseWriteInterval) {
    Stmt up(db_, "UPDATE tokens SET last_used_at = ? WHERE name = ?");
    up.Bind(token.last_used_at, token.name).Step();
    use.written = now;
  }
  return token;
}

std::vector<TokenRecord> StateStore::ListTokens() {
  std::lock_guard lock(mu_);
  std::vector<TokenRecord> out;
  Stmt st(db_, "SELECT name, role, created_at, expires_at, last_used_at FROM tokens ORDER BY name");
  while (st.Step() == SQLITE_ROW) {
    TokenRecord t{st.Text(0), static_cast<Role>(st.Int(1)), st.Text(2), st.Text(3), st.Text(4)};
    // A use not yet written (within the write interval) is known here.
    if (auto it = last_use_.find(t.name); it != last_use_.end())
      t.last_used_at =
          absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", it->second.used, absl::UTCTimeZone());
    out.push_back(std::move(t));
  }
  return out;
}

absl::Status StateStore::DeleteToken(const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "DELETE FROM tokens WHERE name = ?");
  st.Bind(name).Step();
  last_use_.erase(name);
  for (auto it = known_tokens_.begin(); it != known_tokens_.end();)
    it = it->second.record.name == name ? known_tokens_.erase(it) : std::next(it);
  if (sqlite3_changes(db_) == 0)
    return absl::NotFoundError(absl::StrCat("token '", name, "' does not exist"));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> StateStore::BeginOperation(const std::string& request_id,
                                                   const std::string& kind,
                                                   const std::string& target,
                                                   const std::string& fingerprint) {
  std::lock_guard lock(mu_);
  Stmt st2(db_,
           "INSERT INTO operations(request_id, kind, target, state, started_at, fingerprint) "
           "VALUES(NULLIF(?, ''),?,?,'running',?,?)");
  int rc = st2.Bind(request_id, kind, target, Now(), fingerprint).Step();
  if (rc == SQLITE_CONSTRAINT)
    return absl::AlreadyExistsError(absl::StrCat("request_id '", request_id, "' was used before"));
  if (rc != SQLITE_DONE)
    return absl::InternalError(absl::StrCat("state database: ", sqlite3_errmsg(db_)));
  return sqlite3_last_insert_rowid(db_);
}

std::optional<Operation> StateStore::FindOperation(const std::string& request_id) {
  if (request_id.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  Stmt st(db_,
          "SELECT id, request_id, kind, target, state, result, fingerprint, code, message, "
          "started_at, COALESCE(finished_at, '') FROM operations WHERE request_id = ?");
  if (st.Bind(request_id).Step() != SQLITE_ROW) return std::nullopt;
  Operation op = RowOperation(st.Int(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Text(5));
  op.fingerprint = st.Text(6);
  op.code = static_cast<absl::StatusCode>(st.Int(7));
  op.message = st.Text(8);
  op.started_at = st.Text(9);
  op.finished_at = st.Text(10);
  return op;
}

void StateStore::ResumeOperation(int64_t id) {
  std::lock_guard lock(mu_);
  Stmt st(db_,
          "UPDATE operations SET state = 'running', result = '', code = 0, message = '', "
          "finished_at = NULL WHERE id = ?");
  st.Bind(id).Step();
}

void StateStore::FinishOperation(int64_t id, const absl::Status& result) {
  std::lock_guard lock(mu_);
  Stmt st(db_,
          "UPDATE operations SET state = ?, result = ?, code = ?, message = ?, finished_at = ? "
          "WHERE id = ?");
  st.Bind(result.ok() ? "done" : "failed", result.ok() ? std::string("OK") : result.ToString(),
          static_cast<int>(result.code()), std::string(result.message()), Now(), id)
      .Step();
}

std::vector<Operation> StateStore::InterruptedOperations() {
  std::lock_guard lock(mu_);
  std::vector<Operation> out;
  {
    Stmt st(db_,
            "SELECT id, COALESCE(request_id, ''), kind, target, state, result FROM operations "
            "WHERE state = 'running'");
    while (st.Step() == SQLITE_ROW)
      out.push_back(RowOperation(st.Int(0), st.Text(1), st.Text(2), st.Text(3), "interrupted", ""));
  }
  Stmt up(db_,
          "UPDATE operations SET state = 'interrupted', finished_at = ? WHERE state = 'running'");
  up.Bind(Now()).Step();
  return out;
}

void StateStore::Audit(const std::string& who, const std::string& method, const std::string& target,
                       const absl::Status& result) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "INSERT INTO audit(at, who, method, target, result) VALUES(?,?,?,?,?)");
  st.Bind(Now(), who, method, target,
          result.ok() ? std::string("OK") : std::string(absl::StatusCodeToString(result.code())))
      .Step();
}

std::vector<AuditRecord> StateStore::ListAudit(int limit) {
  AuditQuery query;
  query.limit = limit;
  return ListAudit(query);
}

std::vector<AuditRecord> StateStore::ListAudit(const AuditQuery& q) {
  std::lock_guard lock(mu_);
  std::vector<AuditRecord> out;
  // An empty filter matches everything; before_id 0 means from the newest.
  Stmt st(db_,
          "SELECT at, who, method, target, result, id FROM audit WHERE (? = 0 OR id < ?) AND "
          "(? = '' OR who = ?) AND (? = '' OR method = ?) AND (? = '' OR target = ?) "
          "ORDER BY id DESC LIMIT ?");
  st.Bind(q.before_id, q.before_id, q.who, q.who, q.method, q.method, q.target, q.target, q.limit);
  while (st.Step() == SQLITE_ROW)
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Int(5)});
  return out;
}

std::vector<PublishedPort> ServiceRouting::Ports() const {
  std::vector<PublishedPort> out;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(ports_json, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& p : v.as_array()) {
    const boost::json::array* a = p.if_array();
    if (a == nullptr || a->size() != 3 || !(*a)[2].is_string()) continue;
    PublishedPort port;
    port.published = (*a)[0].to_number<uint32_t>(ec);
    if (!ec) port.target = (*a)[1].to_number<uint32_t>(ec);
    if (ec) continue;
    port.protocol = std::string((*a)[2].as_string());
    out.push_back(std::move(port));
  }
  return out;
}

std::string ServiceRouting::PortsJson(const std::vector<PublishedPort>& ports) {
  boost::json::array a;
  for (const auto& p : ports) a.emplace_back(boost::json::array{p.published, p.target, p.protocol});
  return boost::json::serialize(a);
}

absl::Status StateStore::PutRouting(const ServiceRouting& r) {
  std::lock_guard lock(mu_);
  Stmt st(
      db_,
      "INSERT OR REPLACE INTO routing(service, mode, edge_service, ports_json) VALUES(?,?,?,?)");
  if (st.Bind(r.service, r.mode, r.edge_service, r.ports_json).Step() != SQLITE_DONE) {
    return absl::InternalError(absl::StrCat("state database: ", sqlite3_errmsg(db_)));
  }
  routing_[r.service] = r;
  return absl::OkStatus();
}

std::optional<ServiceRouting> StateStore::GetRouting(const std::string& service) {
  std::lock_guard lock(mu_);
  auto it = routing_.find(service);
  if (it == routing_.end()) return std::nullopt;
  return it->second;
}

std::vector<ServiceRouting> StateStore::ListRouting() {
  std::lock_guard lock(mu_);
  std::vector<ServiceRouting> out;
  for (const auto& [service, r] : routing_) out.push_back(r);
  return out;
}

void StateStore::DeleteRouting(const std::string& service) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "DELETE FROM routing WHERE service = ?");
  st.Bind(service).Step();
  routing_.erase(service);
}

absl::Status StateStore::PutSshHostKey(const SshHostKey& k) {
  std::lock_guard lock(mu_);
  Stmt st(db_,
          "INSERT OR REPLACE INTO ssh_host_keys(target, key_type, key_base64, fingerprint, how, "
          "recorded_at) VALUES(?,?,?,?,?,?)");
  if (st.Bind(k.target, k.key_type, k.key_base64, k.fingerprint, k.how, k.recorded_at).Step() !=
      SQLITE_DONE) {
    return absl::InternalError(absl::StrCat("state database: ", sqlite3_errmsg(db_)));
  }
  return absl::OkStatus();
}

std::optional<SshHostKey> StateStore::GetSshHostKey(const std::string& target) {
  std::lock_guard lock(mu_);
  Stmt st(db_,
          "SELECT target, key_type, key_base64, fingerprint, how, recorded_at FROM ssh_host_keys "
          "WHERE target = ?");
  if (st.Bind(target).Step() != SQLITE_ROW) return std::nullopt;
  return SshHostKey{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Text(5)};
}

absl::Status StateStore::PutVolumeContent(const std::string& name, const std::string& tar) {
  std::lock_guard lock(mu_);
  Stmt st(db_,
          "INSERT OR REPLACE INTO volume_contents(name, content, digest, updated_at) "
          "VALUES(?,?,?,?)");
  if (st.Bind(name, Blob{tar}, "sha256:" + Sha256Hex(tar), Now()).Step() != SQLITE_DONE)
    return absl::InternalError(absl::StrCat("state database: ", sqlite3_errmsg(db_)));
  return absl::OkStatus();
}

std::optional<VolumeContent> StateStore::GetVolumeContent(const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "SELECT name, content, digest, updated_at FROM volume_contents WHERE name = ?");
  st.Bind(name);
  if (st.Step() != SQLITE_ROW) return std::nullopt;
  return VolumeContent{st.Text(0), st.Bytes(1), st.Text(2), st.Text(3)};
}

std::vector<VolumeContent> StateStore::ListVolumeContents() {
  std::lock_guard lock(mu_);
  std::vector<VolumeContent> out;
  Stmt st(db_, "SELECT name, digest, updated_at FROM volume_contents ORDER BY name");
  while (st.Step() == SQLITE_ROW) out.push_back({st.Text(0), "", st.Text(1), st.Text(2)});
  return out;
}

void StateStore::DeleteVolumeContent(const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt(db_, "DELETE FROM volume_contents WHERE name = ?").Bind(name).Step();
}

absl::Status StateStore::PutAutoscale(const std::string& service, const std::string& state) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "INSERT OR REPLACE INTO autoscale(service, state) VALUES(?,?)");
  if (st.Bind(service, Blob{state}).Step() != SQLITE_DONE)
    return absl::InternalError(absl::StrCat("state database: ", sqlite3_errmsg(db_)));
  autoscale_[service] = state;
  return absl::OkStatus();
}

std::map<std::string, std::string> StateStore::ListAutoscale() {
  std::lock_guard lock(mu_);
  return autoscale_;
}

std::optional<std::string> StateStore::GetAutoscale(const std::string& service) {
  std::lock_guard lock(mu_);
  auto it = autoscale_.find(service);
  if (it == autoscale_.end()) return std::nullopt;
  return it->second;
}

void StateStore::DeleteAutoscale(const std::string& service) {
  std::lock_guard lock(mu_);
  Stmt(db_, "DELETE FROM autoscale WHERE service = ?").Bind(service).Step();
  autoscale_.erase(service);
}

}  // namespace musketeer::state
