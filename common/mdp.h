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
#define NAGAR_ADMIN_SERVICE "nagar.admin"

#endif
