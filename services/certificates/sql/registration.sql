-- registration.sql — the writes of nagar-certificates, as rule functions.
--
-- The C side validates a report (its fields, the fee, the late-registration
-- window) and seals a certificate's QR payload with the ULB's key, which
-- stays in the service; these functions are the only way its app role
-- changes an application, a registration, a certificate or a correction.
-- Each checks the rule that protects the record — who may act on it, in
-- which ULB, from which state — names actor and reason for the history
-- (rule_act), and writes. SECURITY DEFINER: they run as certificates_owner,
-- with the schema and then pg_temp as their path.
--
-- Errors are SQLSTATE NRINV, NRNFD, NRDEN, NRCON, NRPRE (common/sql/rules)
-- with the field's JSON path as DETAIL.

-- Only a registrar of a record's ULB decides it (an application, a
-- correction): anyone else is refused (NRDEN on p_field), naming the ULB
-- and p_what ("application N").
CREATE OR REPLACE FUNCTION cert_require_registrar(p_actor jsonb, p_ulb text, p_field text,
                                                  p_what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_actor->>'role' IS DISTINCT FROM 'REGISTRAR' OR p_actor->>'ulb' IS DISTINCT FROM p_ulb THEN
        PERFORM rule_fail('NRDEN', p_field,
                          format('only a registrar of ULB %s may decide %s', p_ulb, p_what));
    END IF;
END
$$;

-- The application, locked, if the actor is a registrar of its ULB.
CREATE OR REPLACE FUNCTION cert_application_for_registrar(p_actor jsonb, p_id text)
RETURNS certificates.application LANGUAGE plpgsql AS $$
DECLARE a certificates.application;
BEGIN
    SELECT * INTO a FROM certificates.application WHERE application_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'applicationId', format('no application has id %s', p_id));
    END IF;
    PERFORM cert_require_registrar(p_actor, a.ulb, 'applicationId', 'application ' || p_id);
    RETURN a;
END
$$;

-- A new application (state SUBMITTED) from a citizen, or an event reported
-- by a clerk or registrar of the ULB. p_app holds the validated fields:
-- applicationId, ulb, kind, eventDate, subjectName, report, parentNames,
-- delayDays, lateWindow, feePaise, permissionRequired,
-- permissionReference, informantMobile.
CREATE OR REPLACE FUNCTION cert_application_submit(p_actor jsonb, p_app jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE v_role text := p_actor->>'role';
BEGIN
    PERFORM rule_act(p_actor, 'application.submit');
    PERFORM rule_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REGISTRAR'], 'an application');
    IF v_role <> 'CITIZEN' AND p_actor->>'ulb' IS DISTINCT FROM p_app->>'ulb' THEN
        PERFORM rule_fail('NRDEN', 'ulb', format('staff report events for their own ULB (%s) only, '
                                                 'not %s', p_actor->>'ulb', p_app->>'ulb'));
    END IF;
    INSERT INTO certificates.application (application_id, ulb, kind, state, source, applicant,
        event_date, subject_name, report, parent_names, delay_days, late_window, fee_paise,
        permission_required, permission_reference, informant_mobile)
    VALUES (p_app->>'applicationId', rule_ulb_arg(p_app->>'ulb', 'ulb'),
            rule_int(p_app->'kind', 'kind', 1, 3), 1, v_role, p_actor->>'userId',
            (p_app->>'eventDate')::date, p_app->>'subjectName', p_app->'report',
            coalesce(p_app->>'parentNames', ''), (p_app->>'delayDays')::integer,
            (p_app->>'lateWindow')::smallint, rule_int(p_app->'feePaise', 'feePaise', 0,
                                                       1000000000),
            (p_app->>'permissionRequired')::boolean, coalesce(p_app->>'permissionReference', ''),
            coalesce(p_app->>'informantMobile', ''));
END
$$;

-- Registers a submitted application under the next gap-free number of its
-- ULB, kind and year (<ulb>/<B|D|M>/<year>/<n>); answers the number.
CREATE OR REPLACE FUNCTION cert_application_register(p_actor jsonb, p_id text, p_reference text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    a certificates.application := cert_application_for_registrar(p_actor, p_id);
    v_year integer := extract(year FROM now() AT TIME ZONE 'Asia/Kolkata')::integer;
    v_reference text := coalesce(nullif(p_reference, ''), a.permission_reference);
    v_no bigint;
    v_number text;
BEGIN
    PERFORM rule_act(p_actor, 'application.register');
    IF a.state <> 1 THEN
        PERFORM rule_fail('NRPRE', 'applicationId',
                          format('application %s was already %s', p_id,
                                 CASE a.state WHEN 2 THEN 'registered' ELSE 'rejected' END));
    END IF;
    IF a.permission_required AND v_reference = '' THEN
        PERFORM rule_fail('NRPRE', 'permissionReference',
                          format('application %s was reported late: registering it needs the '
                                 'reference of the permission or order (RBD Act section 13)', p_id));
    END IF;
    INSERT INTO certificates.registration_counter AS c (ulb, kind, year, last_number)
        VALUES (a.ulb, a.kind, v_year, 1)
        ON CONFLICT (ulb, kind, year) DO UPDATE SET last_number = c.last_number + 1
        RETURNING last_number INTO v_no;
    v_number := format('%s/%s/%s/%s', a.ulb, (ARRAY['B', 'D', 'M'])[a.kind], v_year, v_no);
    UPDATE certificates.application SET state = 2, registration_number = v_number,
           registered_at = now(), decided_by = p_actor->>'userId', permission_reference = v_reference
     WHERE application_id = p_id;
    RETURN v_number;
END
$$;

CREATE OR REPLACE FUNCTION cert_application_reject(p_actor jsonb, p_id text, p_reason text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE a certificates.application := cert_application_for_registrar(p_actor, p_id);
BEGIN
    PERFORM rule_act(p_actor, 'application.reject: ' || coalesce(p_reason, ''));
    IF a.state <> 1 THEN
        PERFORM rule_fail('NRPRE', 'applicationId',
                          format('application %s was already %s', p_id,
                                 CASE a.state WHEN 2 THEN 'registered' ELSE 'rejected' END));
    END IF;
    UPDATE certificates.application SET state = 3, decided_by = p_actor->>'userId',
           rejection_reason = rule_text(p_reason, 'reason', 1, 500), registered_at = NULL
     WHERE application_id = p_id;
END
$$;

-- The child's name, entered once into a birth's report (RBD Act section
-- 14): by the applicant or staff of the ULB before registration, by a
-- registrar of the ULB after. Answers the report as it now stands.
CREATE OR REPLACE FUNCTION cert_application_child_name(p_actor jsonb, p_id text, p_name text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    a certificates.application;
    v_report text;
BEGIN
    PERFORM rule_act(p_actor, 'application.child_name');
    SELECT * INTO a FROM certificates.application WHERE application_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'applicationId', format('no application has id %s', p_id));
    END IF;
    IF a.kind <> 1 OR coalesce(a.report->>'childName', '') <> '' THEN
        PERFORM rule_fail('NRPRE', 'childName', 'the name of a child is entered once, into a birth');
    END IF;
    IF NOT ((p_actor->>'role' = 'CITIZEN' AND a.state = 1 AND p_actor->>'userId' = a.applicant)
            OR (p_actor->>'role' IN ('CLERK', 'REGISTRAR') AND a.state = 1
                AND p_actor->>'ulb' = a.ulb)
            OR (p_actor->>'role' = 'REGISTRAR' AND a.state = 2 AND p_actor->>'ulb' = a.ulb)) THEN
        PERFORM rule_fail('NRDEN', 'applicationId',
                          format('the child''s name of application %s is entered by its applicant '
                                 'or staff of ULB %s, and once registered by a registrar', p_id,
                                 a.ulb));
    END IF;
    UPDATE certificates.application
       SET subject_name = rule_text(p_name, 'childName', 1, 200),
           report = jsonb_set(report, '{childName}', to_jsonb(p_name))
     WHERE application_id = p_id
    RETURNING report::text INTO v_report;
    RETURN v_report;
END
$$;

-- A certificate sealed by the C side (qr_payload under key_id), chained
-- per ULB: hash = SHA-256(the ULB's head hash || qr_payload). A first
-- version needs a registered application; a later one supersedes the
-- current version of the same registration. Issued by a registrar of the
-- ULB. Answers the hash (hex).
CREATE OR REPLACE FUNCTION cert_certificate_issue(p_actor jsonb, p_cert jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    a certificates.application;
    v_ulb text := p_cert->>'ulb';
    v_version integer := (p_cert->>'version')::integer;
    v_supersedes text := nullif(p_cert->>'supersedes', '');
    v_current certificates.certificate;
    v_previous bytea;
    v_hash bytea;
BEGIN
    PERFORM rule_act(p_actor, coalesce(nullif(p_cert->>'correctionReason', ''), 'certificate.issue'));
    IF p_actor->>'role' IS DISTINCT FROM 'REGISTRAR' OR p_actor->>'ulb' IS DISTINCT FROM v_ulb THEN
        PERFORM rule_fail('NRDEN', NULL, format('certificates of ULB %s are issued by its registrars',
                                                v_ulb));
    END IF;
    SELECT * INTO a FROM certificates.application WHERE application_id = p_cert->>'applicationId';
    IF NOT FOUND OR a.state <> 2 OR a.ulb <> v_ulb OR a.kind <> (p_cert->>'kind')::smallint
       OR a.registration_number <> p_cert->>'registrationNumber' THEN
        PERFORM rule_fail('NRPRE', 'applicationId',
                          format('application %s is not the registration %s of ULB %s',
                                 p_cert->>'applicationId', p_cert->>'registrationNumber', v_ulb));
    END IF;
    SELECT * INTO v_current FROM certificates.certificate c
     WHERE c.registration_number = a.registration_number
       AND NOT EXISTS (SELECT FROM certificates.certificate n WHERE n.supersedes = c.certificate_id);
    IF (FOUND AND (v_supersedes IS DISTINCT FROM v_current.certificate_id
                   OR v_version <> v_current.version + 1))
       OR (NOT FOUND AND (v_supersedes IS NOT NULL OR v_version <> 1)) THEN
        PERFORM rule_fail('NRCON', 'certificateId',
                          format('version %s of registration %s must supersede its current '
                                 'version', v_version, a.registration_number));
    END IF;
    INSERT INTO certificates.certificate_chain (ulb) VALUES (v_ulb) ON CONFLICT (ulb) DO NOTHING;
    SELECT head_hash INTO v_previous FROM certificates.certificate_chain WHERE ulb = v_ulb
        FOR UPDATE;
    v_hash := sha256(v_previous || convert_to(p_cert->>'qrPayload', 'UTF8'));
    INSERT INTO certificates.certificate (certificate_id, application_id, ulb, kind,
        registration_number, version, supersedes, subject_name, event_date, report, issued_by,
        key_id, qr_payload, correction_id, correction_reason, prev_hash, hash)
    VALUES (p_cert->>'certificateId', a.application_id, v_ulb, a.kind, a.registration_number,
            v_version, v_supersedes, p_cert->>'subjectName', (p_cert->>'eventDate')::date,
            (p_cert->>'report')::jsonb, p_actor->>'userId', p_cert->>'keyId',
            p_cert->>'qrPayload', nullif(p_cert->>'correctionId', ''),
            coalesce(p_cert->>'correctionReason', ''), v_previous, v_hash);
    UPDATE certificates.certificate_chain SET head_hash = v_hash, length = length + 1
     WHERE ulb = v_ulb;
    RETURN encode(v_hash, 'hex');
END
$$;

-- A correction of the current version of a certificate, requested by its
-- applicant or staff of its ULB; one pending per certificate. Answers
-- false when one is pending already.
CREATE OR REPLACE FUNCTION cert_correction_request(p_actor jsonb, p_id text, p_certificate text,
                                                   p_reason text, p_report jsonb) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    c certificates.certificate;
    v_applicant text;
    v_inserted text;
BEGIN
    PERFORM rule_act(p_actor, 'correction.request: ' || coalesce(p_reason, ''));
    SELECT * INTO c FROM certificates.certificate WHERE certificate_id = p_certificate;
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'certificateId', format('no certificate has id %s', p_certificate));
    END IF;
    SELECT applicant INTO v_applicant FROM certificates.application
     WHERE application_id = c.application_id;
    IF NOT ((p_actor->>'role' = 'CITIZEN' AND p_actor->>'userId' = v_applicant)
            OR (p_actor->>'role' IN ('CLERK', 'REGISTRAR') AND p_actor->>'ulb' = c.ulb)) THEN
        PERFORM rule_fail('NRDEN', 'certificateId',
                          format('a correction of certificate %s is requested by its applicant or '
                                 'by staff of ULB %s', p_certificate, c.ulb));
    END IF;
    IF EXISTS (SELECT FROM certificates.certificate n WHERE n.supersedes = c.certificate_id) THEN
        PERFORM rule_fail('NRPRE', 'certificateId',
                          format('certificate %s was superseded; correct the current version',
                                 p_certificate));
    END IF;
    INSERT INTO certificates.correction (correction_id, certificate_id, ulb, kind, state, reason,
                                         report, requested_by)
    VALUES (p_id, c.certificate_id, c.ulb, c.kind, 1, rule_text(p_reason, 'reason', 1, 500),
            p_report, p_actor->>'userId')
    ON CONFLICT (certificate_id) WHERE state = 1 DO NOTHING
    RETURNING correction_id INTO v_inserted;
    RETURN v_inserted IS NOT NULL;
END
$$;

-- A registrar of the ULB decides a pending correction: declined, or
-- approved with the corrected application fields (its new certificate
-- issued by cert_certificate_issue in the same transaction).
CREATE OR REPLACE FUNCTION cert_correction_decide(p_actor jsonb, p_id text, p_approve boolean,
                                                  p_note text, p_new_certificate text,
                                                  p_application jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE r certificates.correction;
BEGIN
    PERFORM rule_act(p_actor, CASE WHEN p_approve THEN 'correction.approve: ' ELSE
                                   'correction.decline: ' END || coalesce(p_note, ''));
    SELECT * INTO r FROM certificates.correction WHERE correction_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'correctionId', format('no correction has id %s', p_id));
    END IF;
    PERFORM cert_require_registrar(p_actor, r.ulb, 'correctionId', 'correction ' || p_id);
    IF r.state <> 1 THEN
        PERFORM rule_fail('NRPRE', 'correctionId', format('correction %s was already decided', p_id));
    END IF;
    IF p_approve THEN
        IF NOT EXISTS (SELECT FROM certificates.certificate n
                        WHERE n.certificate_id = p_new_certificate AND n.supersedes = r.certificate_id
                          AND n.correction_id = p_id) THEN
            PERFORM rule_fail('NRPRE', 'correctionId',
                              format('correction %s is approved with the certificate that '
                                     'supersedes %s', p_id, r.certificate_id));
        END IF;
        UPDATE certificates.application a
           SET subject_name = p_application->>'subjectName',
               event_date = (p_application->>'eventDate')::date,
               report = p_application->'report', parent_names = p_application->>'parentNames',
               informant_mobile = p_application->>'informantMobile'
          FROM certificates.certificate c
         WHERE c.certificate_id = r.certificate_id AND a.application_id = c.application_id;
    END IF;
    UPDATE certificates.correction
       SET state = CASE WHEN p_approve THEN 2 ELSE 3 END, decided_by = p_actor->>'userId',
           decided_at = now(), decision_note = coalesce(p_note, ''),
           new_certificate_id = CASE WHEN p_approve THEN p_new_certificate END
     WHERE correction_id = p_id;
END
$$;

SELECT rules_grant_entry_points();
