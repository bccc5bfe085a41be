/*
 * checkpoint.c — nagarctl checkpoint and checkpoint-keygen, and the
 * pinned checkpoint every verification compares with: the latest validly
 * signed one of the checkpoint files (NAGAR_CHECKPOINT_DIR) and the
 * witness store (database nagar_witness, written as witness_writer, a role
 * no service has). A checkpoint signs the heads only of a state that
 * verifies: signing a broken one would bless the tampering.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "ctl.h"
#include "db.h"

/* The witness store (database nagar_witness) as witness_writer, the role
 * only nagarctl has. NULL with error set when it cannot be reached. */
static nagar_db_t *connect_witness(ctl_t *self, char *error, size_t error_size)
{
    return ctl_connect_db(self, "NAGAR_CTL_CONNINFO_WITNESS", "nagar_witness", "witness_writer",
                          error, error_size);
}

/* The latest checkpoint the witness store holds, verified with the pinned
 * key: LOADED with *out, NONE, FORGED (error says why) or ERROR. */
static nagar_checkpoint_load_t load_witnessed(ctl_t *self, nagar_checkpoint_t **out,
                                              char *error, size_t error_size)
{
    *out = NULL;
    nagar_db_t *db = connect_witness(self, error, error_size);
    if (!db)
        return NAGAR_CHECKPOINT_ERROR;
    nagar_checkpoint_load_t result = NAGAR_CHECKPOINT_NONE;
    PGresult *res = nagar_db_exec(db, "SELECT signed_text FROM witness.checkpoint "
                                      "ORDER BY created_us DESC LIMIT 1", 0, NULL);
    uint8_t key[32];
    if (!res) {
        ctl_fmt(error, error_size, "reading the witness store failed: %s", nagar_db_error(db));
        result = NAGAR_CHECKPOINT_ERROR;
    } else if (PQntuples(res) == 1 &&
               nagar_checkpoint_read_public_key(self->checkpoint_public, key, error,
                                                error_size) != 0) {
        result = NAGAR_CHECKPOINT_ERROR;
    } else if (PQntuples(res) == 1) {
        const char *text = PQgetvalue(res, 0, 0);
        result = nagar_checkpoint_parse(text, strlen(text), key, out, error, error_size);
    }
    PQclear(res);
    nagar_db_destroy(&db);
    return result;
}

/* The latest signed checkpoint, from the checkpoint files or the witness
 * store, whichever is newer; one that does not verify is tampering. */
int ctl_load_pinned(ctl_t *self, nagar_checkpoint_t **pinned, bool quiet_when_none)
{
    char path[PATH_BYTES], error[2048], witness_error[2048] = "";
    nagar_checkpoint_t *witnessed = NULL;
    nagar_checkpoint_load_t loaded = nagar_checkpoint_load_latest(
        self->checkpoint_dir, self->checkpoint_public, pinned, path, sizeof path, error,
        sizeof error);
    nagar_checkpoint_load_t from_witness =
        load_witnessed(self, &witnessed, witness_error, sizeof witness_error);
    if (loaded == NAGAR_CHECKPOINT_FORGED || from_witness == NAGAR_CHECKPOINT_FORGED) {
        ctl_say_error("the latest checkpoint is not valid: %s",
                  loaded == NAGAR_CHECKPOINT_FORGED ? error : witness_error);
        nagar_checkpoint_destroy(pinned);
        nagar_checkpoint_destroy(&witnessed);
        return EXIT_TAMPER;
    }
    if (from_witness == NAGAR_CHECKPOINT_ERROR)
        printf("warning: the witness store could not be read (%s); using the checkpoint files "
               "alone\n", witness_error);
    if (witnessed && (!*pinned || nagar_checkpoint_created_us(witnessed) >
                                      nagar_checkpoint_created_us(*pinned))) {
        nagar_checkpoint_destroy(pinned);
        *pinned = witnessed;
        witnessed = NULL;
        ctl_fmt(path, sizeof path, "the witness store (nagar_witness)");
        loaded = NAGAR_CHECKPOINT_LOADED;
    }
    nagar_checkpoint_destroy(&witnessed);
    switch (loaded) {
    case NAGAR_CHECKPOINT_LOADED: {
        time_t at = (time_t) (nagar_checkpoint_created_us(*pinned) / 1000000);
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&at));
        printf("checkpoint %s (signed %s, %zu chains)\n", path, when,
               nagar_checkpoint_size(*pinned));
        return EXIT_OK;
    }
    case NAGAR_CHECKPOINT_NONE:
        if (!quiet_when_none)
            printf("no signed checkpoint yet in %s: chains are checked for internal consistency "
                   "only (a wholesale rewrite cannot be detected)\n", self->checkpoint_dir);
        return EXIT_OK;
    default:
        ctl_say_error("%s", error);
        return EXIT_ERROR;
    }
}

/* Stores the checkpoint file just written in the witness store. */
static int witness(ctl_t *self, const char *path, int64_t created_us)
{
    FILE *file = fopen(path, "rb");
    char *text = file ? malloc(16 * 1024 * 1024 + 1) : NULL;
    size_t got = text ? fread(text, 1, 16 * 1024 * 1024, file) : 0;
    if (file)
        fclose(file);
    if (!text || got == 0) {
        free(text);
        ctl_say_error("cannot read back %s to witness it", path);
        return -1;
    }
    text[got] = '\0';
    char error[2048], created[32];
    ctl_fmt(created, sizeof created, "%" PRId64, created_us);
    nagar_db_t *db = connect_witness(self, error, sizeof error);
    const char *values[] = {created, text};
    PGresult *res = db ? nagar_db_exec(db, "INSERT INTO witness.checkpoint (created_us, "
                                           "signed_text) VALUES ($1::bigint, $2)", 2, values)
                       : NULL;
    free(text);
    if (!res)
        ctl_say_error("the checkpoint is signed (%s) but could not be witnessed: %s", path,
                  db ? nagar_db_error(db) : error);
    PQclear(res);
    nagar_db_destroy(&db);
    return res ? 0 : -1;
}

int ctl_checkpoint(ctl_t *self)
{
    if (access(self->checkpoint_key, R_OK) != 0) {
        ctl_say_error("cannot read the checkpoint signing key %s: %s; make it once with nagarctl "
                  "checkpoint-keygen (or set NAGAR_CHECKPOINT_KEY)", self->checkpoint_key,
                  strerror(errno));
        return EXIT_ERROR;
    }
    nagar_checkpoint_t *pinned = NULL;
    int rc = ctl_load_pinned(self, &pinned, false);
    if (rc != EXIT_OK)
        return rc;
    nagar_checkpoint_t *next = nagar_checkpoint_new();
    if (!next) {
        nagar_checkpoint_destroy(&pinned);
        ctl_say_error("out of memory");
        return EXIT_ERROR;
    }
    ctl_tally_t tally = {0};
    ctl_verify_all(self, pinned, next, NULL, &tally);
    nagar_checkpoint_destroy(&pinned);
    /* Never sign a state that fails verification: that would bless the tampering. */
    if (tally.broken || tally.errors) {
        nagar_checkpoint_destroy(&next);
        ctl_say_error("no checkpoint written: %d chains failed verification and %d ledgers could not "
                  "be read; investigate (nagarctl verify) and restore before checkpointing",
                  tally.broken, tally.errors);
        return tally.broken ? EXIT_TAMPER : EXIT_ERROR;
    }
    char path[PATH_BYTES], error[2048];
    if (nagar_checkpoint_save(next, self->checkpoint_key, self->checkpoint_dir, path, sizeof path,
                              error, sizeof error) != 0) {
        nagar_checkpoint_destroy(&next);
        ctl_say_error("%s", error);
        return EXIT_ERROR;
    }
    int witnessed = witness(self, path, nagar_checkpoint_created_us(next));
    printf("\nsigned %zu chain heads into %s%s\n", nagar_checkpoint_size(next), path,
           witnessed == 0 ? " and the witness store" : "");
    nagar_checkpoint_destroy(&next);
    return witnessed == 0 ? EXIT_OK : EXIT_ERROR;
}

int ctl_checkpoint_keygen(ctl_t *self)
{
    char dir[PATH_BYTES];
    ctl_fmt(dir, sizeof dir, "%s", self->checkpoint_key);
    if (ctl_make_dir(dirname(dir), 0700) != 0 || ctl_make_dir(self->checkpoint_dir, 0755) != 0)
        return EXIT_ERROR;
    char error[1024];
    if (nagar_checkpoint_keygen(self->checkpoint_key, self->checkpoint_public, error,
                                sizeof error) != 0) {
        ctl_say_error("%s", error);
        return EXIT_ERROR;
    }
    printf("checkpoint key: secret %s (keep it away from the database host's other users), "
           "public %s\n", self->checkpoint_key, self->checkpoint_public);
    return EXIT_OK;
}
