/*
 * otp.h — citizen login by mobile number and one-time password.
 *
 *   otp.request  RequestOtpRequest -> RequestOtpReply
 *   otp.verify   VerifyOtpRequest -> TokenPair (creates the citizen on first login)
 *
 * A code is 6 random digits, valid NAGAR_IDENTITY_OTP_TTL_S (300) seconds,
 * stored only as a keyed BLAKE2b hash (key from NAGAR_IDENTITY_OTP_KEY_FILE),
 * with at most NAGAR_IDENTITY_OTP_MAX_ATTEMPTS (3) guesses; a new request
 * replaces the previous code. Rate limits within NAGAR_IDENTITY_OTP_WINDOW_S
 * (900): NAGAR_IDENTITY_OTP_PER_NUMBER (3) codes per number,
 * NAGAR_IDENTITY_OTP_PER_IP (10) per client IP, and one code per number
 * every NAGAR_IDENTITY_OTP_RESEND_S (30) seconds.
 *
 * Delivery: with NAGAR_IDENTITY_OTP_VIA=notifications the code goes to
 * nagar-notifications (message.send, template otp.login, the code a secret
 * param that notifications never stores in clear) before the transaction
 * commits — a code notifications did not accept is not kept. Otherwise a
 * development sink appends {"mobile","otp","at"} JSON lines to
 * NAGAR_OTP_SINK_FILE; with neither, requests are refused (UNAVAILABLE).
 * The code is never logged.
 */
#ifndef NAGAR_IDENTITY_OTP_H
#define NAGAR_IDENTITY_OTP_H

#include "identity.h"

int identity_otp_request(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_otp_verify(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

/* Writes a new random key for NAGAR_IDENTITY_OTP_KEY_FILE (hex, mode 0600);
 * refuses to overwrite. */
int identity_otp_keygen(const char *path, char *error, size_t error_size);
/* Reads it. */
int identity_otp_key_load(const char *path, uint8_t key[IDENTITY_OTP_KEY_BYTES], char *error,
                          size_t error_size);

#endif
