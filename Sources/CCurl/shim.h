#ifndef COFFER_CCURL_SHIM_H
#define COFFER_CCURL_SHIM_H
/* libcurl (libcurl4-openssl-dev): the shared backend's S3 client, signing
 * with SigV4 (CURLOPT_AWS_SIGV4). curl_easy_setopt is variadic, which Swift
 * cannot call: one typed wrapper per argument type. */
#include <curl/curl.h>

static inline CURLcode coffer_curl_set_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode coffer_curl_set_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode coffer_curl_set_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode coffer_curl_set_size(CURL *curl, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(curl, option, value);
}
typedef size_t (*coffer_curl_write_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode coffer_curl_set_write(CURL *curl, coffer_curl_write_callback callback, void *context) {
    CURLcode rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, callback);
    return rc != CURLE_OK ? rc : curl_easy_setopt(curl, CURLOPT_WRITEDATA, context);
}
static inline long coffer_curl_response_code(CURL *curl) {
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}
#endif
