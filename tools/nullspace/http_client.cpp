#include "tools/nullspace/http_client.hpp"

#include <curl/curl.h>

#include <stdexcept>

namespace nullspace::cli {
namespace {

struct transfer {
  http_response* resp = nullptr;
  std::function<bool(std::string_view)>* on_data = nullptr;
  const http_request* req = nullptr;
  CURL* curl = nullptr;
  bool stopped = false;  // on_data asked to stop
};

size_t on_write(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  size_t bytes = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->on_data && status >= 200 && status < 300) {
    if (!(*t->on_data)(std::string_view(p, bytes))) {
      t->stopped = true;
      return CURL_WRITEFUNC_ERROR;
    }
    return bytes;
  }
  t->resp->body.append(p, bytes);
  return bytes;
}

int on_xfer(void* user, curl_off_t, curl_off_t, curl_off_t ultotal, curl_off_t ulnow) {
  auto* t = static_cast<transfer*>(user);
  if (t->req->on_progress)
    t->req->on_progress(static_cast<uint64_t>(ulnow), static_cast<uint64_t>(ultotal));
  return 0;
}

struct global_init {
  global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~global_init() { curl_global_cleanup(); }
};

}  // namespace

http_client::http_client() {
  static global_init once;
  curl_ = curl_easy_init();
  if (!curl_) throw std::runtime_error("libcurl could not be initialised");
}

http_client::~http_client() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

http_response http_client::send(const http_request& req) {
  return perform(req, nullptr);
}

http_response http_client::stream(const http_request& req,
                                  std::function<bool(std::string_view)> on_data) {
  return perform(req, &on_data);
}

http_response http_client::perform(const http_request& req,
                                   std::function<bool(std::string_view)>* on_data) {
  auto* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache
  http_response resp;
  transfer t{&resp, on_data, &req, c};

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  // A dead peer is noticed: streams get a `: ping` every 15 s.
  if (req.stall_timeout_s > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req.stall_timeout_s);
  } else {
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 15L);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "nullspace-cli/0.1");

  if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    if (req.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method != "DELETE" || !req.body.empty()) {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }
  curl_slist* headers = nullptr;
  for (auto& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);

  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  resp.connected = resp.status != 0;
  char* ct = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) resp.content_type = ct;
  if (rc != CURLE_OK && !t.stopped) {
    resp.transport_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    // A whole-body answer cut short is no answer; a stream keeps its status
    // (the caller resumes it).
    if (!on_data) resp.status = 0;
  }
  return resp;
}

}  // namespace nullspace::cli
