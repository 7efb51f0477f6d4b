#include "controlplane/server/lists.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controlplane/cluster/cluster.h"
#include "controlplane/state/state_store.h"

namespace musketeer::server {
namespace {
constexpr char kSep = '\x1f';
const char kMagic[] = "mkp1";

std::string Digest(const std::string& filters) {
  return state::Sha256Hex(std::string(filters)).substr(0, 16);
}
}  // namespace

absl::StatusOr<int> PageSize(int32_t requested, int default_size) {
  if (requested < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: ", requested, " is negative; use 0 (the default) to ", kMaxPageSize));
  if (requested == 0) return std::min(default_size, kMaxPageSize);
  return std::min<int>(requested, kMaxPageSize);
}

std::string EncodePageToken(const std::string& list, const std::string& filters,
                            const PageKey& key) {
  std::string raw =
      absl::StrCat(kMagic, std::string(1, kSep), list, std::string(1, kSep), Digest(filters));
  for (const auto& k : key) absl::StrAppend(&raw, std::string(1, kSep), k);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<PageKey> DecodePageToken(const std::string& token, const std::string& list,
                                        const std::string& filters) {
  std::string raw;
  const auto invalid = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: ", why,
                     "; pass the next_page_token of the previous answer with the same filters, "
                     "or none for the first page"));
  };
  if (token.size() > 4096 || !absl::WebSafeBase64Unescape(token, &raw))
    return invalid("not a page token");
  std::vector<std::string> parts = absl::StrSplit(raw, kSep);
  if (parts.size() < 4 || parts[0] != kMagic) return invalid("not a page token");
  if (parts[1] != list) return invalid(absl::StrCat("a token of another list (", parts[1], ")"));
  if (parts[2] != Digest(filters)) return invalid("the filters differ from the first page's");
  return PageKey(parts.begin() + 3, parts.end());
}

std::string LabelsFilter(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

bool MatchLabels(const google::protobuf::Map<std::string, std::string>& labels,
                 const google::protobuf::Map<std::string, std::string>& filter) {
  for (const auto& [k, v] : filter) {
    auto it = labels.find(k);
    if (it == labels.end() || (!v.empty() && it->second != v)) return false;
  }
  return true;
}

std::string SerializePage(const Page& page, const std::vector<std::string>& items,
                          int items_field, int token_field) {
  // Each field as its tag (number, wire type 2: length-delimited), length and bytes.
  constexpr uint32_t kLengthDelimited = 2;
  size_t size = page.next_page_token.size() + 10;
  for (size_t i : page.items) size += items[i].size() + 10;
  std::string out;
  out.reserve(size);
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    const auto write = [&](int field, const std::string& bytes) {
      coded.WriteVarint32(static_cast<uint32_t>(field) << 3 | kLengthDelimited);
      coded.WriteVarint32(static_cast<uint32_t>(bytes.size()));
      coded.WriteString(bytes);
    };
    for (size_t i : page.items) write(items_field, items[i]);
    if (!page.next_page_token.empty()) write(token_field, page.next_page_token);
  }
  return out;
}

namespace pb = ::musketeer::v1;

absl::StatusOr<Page> PageNodes(const pb::ListNodesRequest& req,
                               const std::vector<pb::Node>& nodes) {
  const std::string& role = req.role();
  if (!role.empty() && role != "manager" && role != "worker" && role != "none")
    return absl::InvalidArgumentError(
        absl::StrCat("role: '", role.substr(0, 40), "' is not manager, worker or none"));
  const std::string filters = absl::StrCat("labels=", LabelsFilter(req.labels()), ";role=", role);
  return TakePage<pb::Node>(
      nodes,
      [&](const pb::Node& n) {
        if (!MatchLabels(n.labels(), req.labels())) return false;
        if (role.empty()) return true;
        return role == "none" ? n.swarm_role().empty() : n.swarm_role() == role;
      },
      "nodes", filters, req.page_size(), kMaxPageSize, req.page_token(),
      [](const pb::Node& n) { return PageKey{n.name()}; },
      [](const PageKey& k) -> std::optional<pb::Node> {
        if (k.size() != 1) return std::nullopt;
        pb::Node n;
        n.set_name(k[0]);
        return n;
      },
      cluster::NodeListOrder);
}

absl::Status PageServices(const pb::ListServicesRequest& req,
                          const std::vector<pb::Service>& services,
                          pb::ListServicesResponse* out) {
  const std::string filters =
      absl::StrCat("stack=", req.stack(), ";labels=", LabelsFilter(req.labels()),
                   ";internal=", req.include_internal());
  auto page = TakePage<pb::Service>(
      services,
      [&](const pb::Service& s) {
        return (!s.internal() || req.include_internal()) &&
               MatchLabels(s.spec().labels(), req.labels());
      },
      "services", filters, req.page_size(), kMaxPageSize, req.page_token(),
      [](const pb::Service& s) { return PageKey{s.spec().name()}; },
      [](const PageKey& k) -> std::optional<pb::Service> {
        if (k.size() != 1) return std::nullopt;
        pb::Service s;
        s.mutable_spec()->set_name(k[0]);
        return s;
      },
      [](const pb::Service& a, const pb::Service& b) { return a.spec().name() < b.spec().name(); });
  if (!page.ok()) return page.status();
  for (size_t i : page->items) *out->add_services() = services[i];
  out->set_next_page_token(std::move(page->next_page_token));
  return absl::OkStatus();
}

absl::StatusOr<Page> PageTasks(const pb::ListTasksRequest& req,
                               const std::vector<pb::Task>& tasks) {
  static const auto* kStates =
      new std::set<std::string>{"new",       "allocated", "pending",  "assigned", "accepted",
                                "preparing", "ready",     "starting", "running",  "complete",
                                "shutdown",  "failed",    "rejected", "remove",   "orphaned"};
  if (!req.desired_state().empty() && !kStates->count(req.desired_state()))
    return absl::InvalidArgumentError(
        absl::StrCat("desired_state: '", req.desired_state().substr(0, 40),
                     "' is not a task state; use e.g. running or shutdown"));
  const std::string filters = absl::StrCat("service=", req.service(), ";node=", req.node(),
                                           ";desired=", req.desired_state());
  return TakePage<pb::Task>(
      tasks,
      [&](const pb::Task& t) {
        return (req.node().empty() || t.node() == req.node()) &&
               (req.desired_state().empty() || t.desired_state() == req.desired_state());
      },
      "tasks", filters, req.page_size(), kMaxPageSize, req.page_token(),
      [](const pb::Task& t) {
        return PageKey{t.service(), absl::StrCat(t.slot()), t.updated_at(), t.id()};
      },
      [](const PageKey& k) -> std::optional<pb::Task> {
        uint32_t slot = 0;
        if (k.size() != 4 || !absl::SimpleAtoi(k[1], &slot)) return std::nullopt;
        pb::Task t;
        t.set_service(k[0]);
        t.set_slot(slot);
        t.set_updated_at(k[2]);
        t.set_id(k[3]);
        return t;
      },
      cluster::TaskListOrder);
}

absl::Status PageAudit(const pb::ListAuditRequest& req, state::StateStore& store,
                       pb::ListAuditResponse* out) {
  auto size = PageSize(req.page_size() ? req.page_size() : req.limit(), 100);
  if (!size.ok()) return size.status();
  state::AuditQuery q;
  q.limit = *size + 1;  // one more says whether there is a next page
  q.who = req.who();
  q.method = req.method();
  q.target = req.target();
  const std::string filters =
      absl::StrCat("who=", q.who, ";method=", q.method, ";target=", q.target);
  if (!req.page_token().empty()) {
    auto key = DecodePageToken(req.page_token(), "audit", filters);
    if (!key.ok()) return key.status();
    if (key->size() != 1 || !absl::SimpleAtoi((*key)[0], &q.before_id) || q.before_id <= 0)
      return absl::InvalidArgumentError("page_token: not a page token of the audit log");
  }
  auto records = store.ListAudit(q);
  const bool more = static_cast<int>(records.size()) > *size;
  if (more) records.resize(*size);
  for (const auto& a : records) {
    auto* e = out->add_entries();
    e->set_at(a.at);
    e->set_who(a.who);
    e->set_method(a.method);
    e->set_target(a.target);
    e->set_result(a.result);
  }
  if (more && !records.empty())
    out->set_next_page_token(EncodePageToken("audit", filters, {absl::StrCat(records.back().id)}));
  return absl::OkStatus();
}

}  // namespace musketeer::server
