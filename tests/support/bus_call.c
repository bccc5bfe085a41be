/*
 * bus_call.c — a command-line bus client for system tests: sends echo
 * requests through libnagar's client (bus_client.h) and prints one JSON line
 * per result, so a test can assert on codes, which worker answered, the
 * caller principal the worker saw and how many attempts it took.
 *
 *   bus_call [--service echo] [--method echo] [--count N] [--in-flight K]
 *            [--text T] [--size BYTES] [--sleep-ms MS] [--crash]
 *            [--timeout-ms MS] [--attempts N] [--idempotency-key KEY]
 *            [--authorization TOKEN] [--request-id ID] [--repeatable]
 *
 * Each line: {"request_id","code","message","field","text","worker",
 * "caller","actor_user_id","idempotency_key","attempts","elapsed_ms"}: the
 * actor is whom the worker verified TOKEN to be ("" without one).
 * With --count > 1 the idempotency key and request id get "-<n>" appended.
 * --repeatable marks the requests safe to run twice (bus_client.h).
 * Bus settings come from the NAGAR_BUS_* environment (bus.h). Exit status
 * 0 when every request produced a line, 2 on bad usage or set-up.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_client.h"
#include "log.h"
#include "tests/proto/echo.pb-c.h"

#define TEXT_MAX (1024 * 1024)

typedef struct {
    int64_t sent_at;
} request_slot_t;

static int completed = 0;

static void print_result(const nagar_bus_result_t *result, void *arg)
{
    request_slot_t *slot = arg;
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I}", "request_id", result->request_id,
                             "code", nagar_status_name(result->code), "message", result->message,
                             "field", result->field, "attempts", result->attempts, "elapsed_ms",
                             (json_int_t) (zclock_mono() - slot->sent_at));
    /* Every line has every key; the reply's are empty unless OK. */
    static const char *const reply_keys[] = { "text", "worker", "caller", "actor_user_id",
                                              "idempotency_key" };
    for (size_t i = 0; i < sizeof reply_keys / sizeof reply_keys[0]; i++)
        json_object_set_new(line, reply_keys[i], json_string(""));
    if (result->code == NAGAR__STATUS_CODE__OK) {
        Nagar__Test__EchoReply *reply =
            nagar__test__echo_reply__unpack(NULL, result->payload_size, result->payload);
        if (reply) {
            json_object_set_new(line, "text", json_string(reply->text));
            json_object_set_new(line, "worker", json_string(reply->worker));
            json_object_set_new(line, "caller", json_string(reply->caller));
            json_object_set_new(line, "actor_user_id", json_string(reply->actor_user_id));
            json_object_set_new(line, "idempotency_key", json_string(reply->idempotency_key));
            nagar__test__echo_reply__free_unpacked(reply, NULL);
        } else {
            json_object_set_new(line, "code", json_string("BAD_REPLY"));
        }
    }
    char *text = json_dumps(line, JSON_COMPACT);
    if (text) {
        printf("%s\n", text);
        fflush(stdout);
        free(text);
    }
    json_decref(line);
    completed++;
}

static void usage(void)
{
    fprintf(stderr, "usage: bus_call [--service S] [--method M] [--count N] [--in-flight K] "
            "[--text T] [--size BYTES] [--sleep-ms MS] [--crash] [--timeout-ms MS] "
            "[--attempts N] [--idempotency-key KEY] [--authorization TOKEN] [--request-id ID] "
            "[--repeatable]\n");
}

static bool parse_int(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!*text || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

int main(int argc, char **argv)
{
    nagar_log_init("bus_call");
    const char *service = "echo", *method = "echo", *text = "hello";
    const char *idempotency_key = "", *authorization = "", *request_id = "";
    long count = 1, in_flight = 1, size = -1, sleep_ms = 0, timeout_ms = 0, attempts = 0;
    bool crash = false, repeatable = false;
    static const struct option long_options[] = {
        { "service", required_argument, NULL, 's' },
        { "method", required_argument, NULL, 'm' },
        { "count", required_argument, NULL, 'n' },
        { "in-flight", required_argument, NULL, 'k' },
        { "text", required_argument, NULL, 't' },
        { "size", required_argument, NULL, 'z' },
        { "sleep-ms", required_argument, NULL, 'w' },
        { "crash", no_argument, NULL, 'c' },
        { "timeout-ms", required_argument, NULL, 'd' },
        { "attempts", required_argument, NULL, 'a' },
        { "idempotency-key", required_argument, NULL, 'i' },
        { "authorization", required_argument, NULL, 'u' },
        { "request-id", required_argument, NULL, 'r' },
        { "repeatable", no_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    bool ok = true;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case 's': service = optarg; break;
        case 'm': method = optarg; break;
        case 'n': ok = ok && parse_int(optarg, 1, 10000000, &count); break;
        case 'k': ok = ok && parse_int(optarg, 1, 100000, &in_flight); break;
        case 't': text = optarg; break;
        case 'z': ok = ok && parse_int(optarg, 0, TEXT_MAX, &size); break;
        case 'w': ok = ok && parse_int(optarg, 0, 3600000, &sleep_ms); break;
        case 'c': crash = true; break;
        case 'd': ok = ok && parse_int(optarg, 1, 3600000, &timeout_ms); break;
        case 'a': ok = ok && parse_int(optarg, 1, 20, &attempts); break;
        case 'i': idempotency_key = optarg; break;
        case 'u': authorization = optarg; break;
        case 'r': request_id = optarg; break;
        case 'p': repeatable = true; break;
        default: ok = false;
        }
    }
    if (!ok || optind != argc) {
        usage();
        return 2;
    }

    char error[NAGAR_CONFIG_ERROR_MAX];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        fprintf(stderr, "bus_call: %s\n", error);
        return 2;
    }
    nagar_bus_options_t options;
    nagar_bus_client_t *client = NULL;
    if (nagar_bus_options_load(&options, config, error, sizeof error) == 0)
        client = nagar_bus_client_new(&options, config, error, sizeof error);
    if (!client) {
        fprintf(stderr, "bus_call: %s\n", error);
        nagar_config_destroy(&config);
        return 2;
    }

    char *padded = NULL;
    if (size >= 0) {
        padded = malloc((size_t) size + 1);
        memset(padded, 'x', (size_t) size);
        padded[size] = '\0';
        text = padded;
    }
    request_slot_t *slots = calloc((size_t) count, sizeof *slots);
    Nagar__Test__EchoRequest request = NAGAR__TEST__ECHO_REQUEST__INIT;
    request.text = (char *) text;
    request.sleep_ms = (uint32_t) sleep_ms;
    request.crash = crash;

    long sent = 0;
    int refused = 0;
    while (completed + refused < count) {
        while (sent < count && (long) nagar_bus_client_in_flight(client) < in_flight &&
               !zsys_interrupted) {
            char key[256], id[128];
            snprintf(key, sizeof key, count > 1 && idempotency_key[0] ? "%s-%ld" : "%s",
                     idempotency_key, sent);
            snprintf(id, sizeof id, count > 1 && request_id[0] ? "%s-%ld" : "%s", request_id,
                     sent);
            Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
            context.request_id = id;
            context.idempotency_key = key;
            context.authorization = (char *) authorization;
            nagar_bus_call_t call = {
                .service = service,
                .method = method,
                .context = &context,
                .request = &request.base,
                .timeout_ms = (int) timeout_ms,
                .max_attempts = (int) attempts,
                .repeatable = repeatable,
            };
            slots[sent].sent_at = zclock_mono();
            if (nagar_bus_client_send(client, &call, print_result, &slots[sent]) != 0) {
                printf("{\"code\":\"REFUSED\",\"message\":\"the client refused the request; see "
                       "its log\"}\n");
                fflush(stdout);
                refused++;
            }
            sent++;
        }
        if (zsys_interrupted)
            break;
        nagar_bus_client_poll(client, 100);
    }
    /* On an interrupt, what is still in flight completes here (UNAVAILABLE). */
    nagar_bus_client_destroy(&client);
    free(slots);
    free(padded);
    nagar_config_destroy(&config);
    return completed + refused == count ? 0 : 1;
}
