/*
 * mdp.h — constants of the Majordomo Protocol MDP/0.1 (ZeroMQ RFC 7) and
 * the Majordomo Management Interface (RFC 8), as they appear on the wire.
 *
 * Client to broker (DEALER, so an empty delimiter frame leads):
 *   [""]["MDPC01"][service][body...]
 * Broker to client: [""]["MDPC01"][service][body...]
 * Worker to broker: [""]["MDPW01"][command][...]
 *   READY      0x01 [service]
 *   REQUEST    0x02 [client address][""][body...]          (broker -> worker)
 *   REPLY      0x03 [client address][""][body...]          (worker -> broker)
 *   HEARTBEAT  0x04
 *   DISCONNECT 0x05
 *
 * Nagar's extension, used only when CURVE is on: the broker appends one
 * frame to a REQUEST's body holding the caller's authenticated principal
 * name, so a worker can refuse callers with no business calling it. With
 * security off (interoperability with plain RFC 7 peers) nothing is added.
 *
 * Nagar's credit extension (prefetch), backwards compatible both ways:
 *   READY      0x01 [service]["credit=N"]                  N in 1..256
 * A worker that sends the optional frame may be sent up to N REQUESTs
 * before it replies; it still handles them one at a time, in the order
 * received, so its REPLYs come back in that order and the broker matches
 * each to the oldest request it holds for that client address. A plain
 * RFC 7 worker sends no such frame and gets credit 1: exactly RFC 7 (one
 * REQUEST, then nothing until its REPLY). An RFC 7 broker ignores the frame
 * and gives credit 1 too. When a worker dies, expires or is cut, every
 * request it holds is answered UNAVAILABLE at once. libnagar workers send
 * NAGAR_BUS_WORKER_CREDIT (default 16; 1 sends no frame).
 * Why: with one request per worker, each request waits on a chain of about
 * six thread wake-ups between broker and worker; `make bench-bus` measured
 * 11.9k requests/s through the broker against 157k/s for a raw CURVE
 * DEALER->ROUTER echo (0.08). Prefetch lets the worker start the next
 * request while the previous reply is still on its way.
 *
 * Nagar's packed extension, backwards compatible with RFC 7 peers: a peer
 * may send a whole MDP message as ONE frame (mdp_pack.h has the format):
 *   ["\xffNGP" 0x01 N, then N times (4-byte big-endian length, frame)]
 * e.g. a client's [""]["MDPC01"][service][body] as one frame. A plain MDP
 * message from a DEALER starts with the empty delimiter, so a non-empty
 * first frame with this magic is never a plain one. The broker unpacks it
 * into the frames it stands for before looking at anything (so ACLs, the
 * principal frame, credit, quarantine, MMI and admin see one format), and
 * packs what it sends to a peer that packs: a worker whose last message
 * was packed, a client for the answer to a packed request. RFC 7 peers
 * never see a packed frame. A packed frame that does not unpack is dropped
 * with the log event broker.malformed_packed. libnagar clients and workers
 * pack unless NAGAR_BUS_PACKED=0 (needed only with a broker that is not
 * nagar-broker: an RFC 7 broker would drop packed messages as malformed);
 * they accept either form from the broker.
 * Packing is also how a peer negotiates the libnagar extension. A client
 * whose request arrived packed gets the broker's own typed errors at once
 * (a nagar.Reply: no worker, quarantined, busy, past its deadline, worker
 * lost, refused by the ACL, a service name the broker does not accept). A
 * plain client gets RFC 7 behaviour: its request waits for a worker until
 * its deadline, and what cannot be served is dropped (and logged as
 * broker.dropped), because an RFC 7 client would take any body for the
 * service's answer. A worker that packs or announces credit is detected as
 * lost by liveness alone; a plain one is silent while it works (RFC 7) and
 * is presumed lost only once the request it holds is past its deadline.
 * Why: with CURVE each ZeroMQ frame is its own encrypted message (its own
 * crypto_box, nonce and bookkeeping). A request through the broker is 4
 * hops of 4 + 7 + 6 + 4 = 21 frames against the raw echo's 2 + 2; even a
 * bare ROUTER-ROUTER relay of those frames, with no broker logic at all,
 * reached only about 0.3 (0.26-0.36) of the raw CURVE echo in `make bench-bus`.
 * Packed, each hop is one encrypted message. Measured in the same
 * `make bench-bus` runs (2 shared cores, 3 rounds each): the bare relay,
 * packed, reached 0.61-0.75 of the raw echo (0.26-0.34 unpacked); the bus
 * 0.30-0.35 packed against 0.21-0.25 with NAGAR_BUS_PACKED=0, i.e. 1.2-1.5x
 * the requests per second, and its CPU per request (broker, workers and
 * client together) fell from 42-49 us to 23-29 us. The raw echo costs 7 us:
 * the rest of the gap is the work of broker, workers and client and the
 * thread wake-ups between them (services/broker/README.md, Performance).
 * Since broker, worker and client read packed messages as zmq_msg_t parts
 * viewed in place (no zmsg/zframe per frame; the broker moves a request's
 * packed frame into the request instead of copying its body), the bus
 * measured 73-78k requests/s, 0.43-0.49 of the raw CURVE echo, at 22-23 us
 * of CPU per request (was 52-65k, 0.31-0.44, 26.5-33 us in the same
 * conditions).
 */
#ifndef NAGAR_MDP_H
#define NAGAR_MDP_H

#define MDP_CLIENT "MDPC01"
#define MDP_WORKER "MDPW01"

#define MDP_READY      "\001"
#define MDP_REQUEST    "\002"
#define MDP_REPLY      "\003"
#define MDP_HEARTBEAT  "\004"
#define MDP_DISCONNECT "\005"

/* Service names: printable, no leading "mmi." unless the broker's own. */
#define MDP_SERVICE_NAME_MAX 64
#define MMI_SERVICE      "mmi.service"
/* Nagar's: is this broker taking new requests? "200" yes, "503" no (it is
 * draining before it stops, or warming up after it started); a broker
 * without it answers "501" as RFC 8 says. Clients with several brokers
 * ping each with it (bus_client.h). */
#define MMI_READY        "mmi.ready"
/* Nagar's: is this service (body: its name) quarantined at this broker?
 * "200" yes, "404" no; a broker without it answers "501". Names only, never
 * the operator's reason (that stays on nagar.admin): the operations page
 * shows it through the gateway, which holds no key that could change it. */
#define MMI_QUARANTINE   "mmi.quarantine"

/* Nagar's drain extension, backwards compatible: a worker asked to stop
 * sends
 *   DISCONNECT 0x05 ["drain"]
 * nagar-broker then sends it nothing new, lets it answer what it holds and,
 * once it holds nothing, sends it DISCONNECT and forgets it; the worker
 * leaves when every broker has said so (bus_worker.h). A broker that does
 * not know the frame takes it for a plain DISCONNECT (and answers what the
 * worker held UNAVAILABLE, as before). */
#define MDP_DRAIN "drain"
#define NAGAR_ADMIN_SERVICE "nagar.admin"

/* The credit extension's READY frame: "credit=" and 1..3 decimal digits. */
#define NAGAR_MDP_CREDIT_PREFIX "credit="
#define NAGAR_MDP_CREDIT_MAX 256
/* 16: make bench-bus (64 in flight, 2 workers) measured CPU per request
 * 22.9 us at 8 and 16.5 us at 16 (0.44 -> 0.59 of the raw echo); a worker
 * holding more pays each wake-up over more requests. The price: under load a
 * quick request may wait behind up to 15 slow ones on one worker; a service
 * of slow requests can lower NAGAR_BUS_WORKER_CREDIT. */
#define NAGAR_MDP_CREDIT_DEFAULT 16

#endif
