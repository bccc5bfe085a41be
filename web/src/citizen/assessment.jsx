// assessment.jsx — a property owner's self-assessment return for a financial
// year: what they declare (zone, use, construction, occupancy, floors and
// areas), filed once per year and revised after; an officer accepts it or
// re-assesses. The form (common/declaration.jsx) starts from the register's
// particulars.
// The property's returns (every year, every revision) are listed from the
// service (GET /api/v1/property-tax/assessments?propertyId=).
import { useState } from 'preact/hooks';
import { api, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { financialYear, indianDate, rupees } from '../common/format.js';
import { Busy, Link, Notice, navigate, useLoad } from '../common/ui.jsx';
import { Declaration, floorsLine, fromRecord } from '../common/declaration.jsx';

// The property's returns, newest first: year, revision, state, ALV.
function Returns({ propertyId }) {
  const [list, error, , loading] = useLoad(() => api('GET', '/api/v1/property-tax/assessments', { query: { propertyId, pageSize: 50 } }), [propertyId]);
  const returns = list?.assessments || [];
  return (
    <section aria-labelledby="assess-earlier">
      <h2 id="assess-earlier">{t('assess.earlier')}</h2>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {list && !returns.length && <p>{t('assess.none')}</p>}
      <ul class="list" data-testid="returns">{returns.map((a) => (
        <li key={a.assessmentId} data-status={a.status}>
          <Link href={`/property/${encodeURIComponent(propertyId)}/assessment/${a.assessmentId}`}>{t('assess.number', { id: String(a.assessmentId) })}</Link>
          {' — '}{a.fy}, {t('assess.revision')} {a.revision || 1}: {t('assess.status.' + a.status)}; {t('assess.alv')} {rupees(a.alvPaise)}
        </li>
      ))}</ul>
    </section>
  );
}

export function FileAssessment({ propertyId }) {
  const [property, error] = useLoad(() => api('GET', '/api/v1/property-tax/properties/' + encodeURIComponent(propertyId)), [propertyId]);
  return (
    <>
      <h1>{t('assess.title')}</h1>
      <p>{t('property.one', { id: propertyId })}</p>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <Returns propertyId={propertyId} />
      {property && (
        <Declaration initial={fromRecord(property, financialYear())} withYear submitLabel={t('assess.file')} note={t('assess.declare')}
          onSubmit={async (decl) => {
            const a = await api('POST', '/api/v1/property-tax/assessments', { key: newKey(), body: { propertyId, ...decl } });
            navigate(`/property/${encodeURIComponent(propertyId)}/assessment/${a.assessmentId}`);
          }} />
      )}
      <p><Link href={'/property/' + encodeURIComponent(propertyId)}>{t('common.back')}</Link></p>
    </>
  );
}

export function AssessmentPage({ propertyId, assessmentId }) {
  const [a, error, reload, loading] = useLoad(() => api('GET', '/api/v1/property-tax/assessments/' + encodeURIComponent(assessmentId)), [assessmentId]);
  const [revising, setRevising] = useState(false);
  const [done, setDone] = useState('');
  const open = a && (a.status === 'FILED');
  return (
    <>
      <h1>{t('assess.number', { id: assessmentId })}</h1>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      <Notice kind="success">{done}</Notice>
      {a && (
        <>
          <dl class="facts">
            <dt>{t('property.id')}</dt><dd>{a.propertyId}</dd>
            <dt>{t('common.fy')}</dt><dd>{a.fy}</dd>
            <dt>{t('assess.revision')}</dt><dd>{a.revision}</dd>
            <dt>{t('cert.state')}</dt><dd data-testid="assessment-status">{t('assess.status.' + a.status)}</dd>
            <dt>{t('assess.zone')}</dt><dd>{a.zone}</dd>
            <dt>{t('assess.usage')}</dt><dd>{t('usage.' + a.usage)}</dd>
            <dt>{t('assess.construction')}</dt><dd>{t('construction.' + a.construction)}</dd>
            <dt>{t('assess.occupancy')}</dt><dd>{t('occupancy.' + a.occupancy)}</dd>
            <dt>{t('assess.floors')}</dt><dd>{floorsLine(a.floors)}</dd>
            <dt>{t('assess.alv')}</dt><dd data-testid="assessment-alv">{rupees(a.alvPaise)}</dd>
            <dt>{t('assess.filed')}</dt><dd>{indianDate(a.filedAt)}</dd>
            {a.reason && <><dt>{t('assess.reason')}</dt><dd>{a.reason}</dd></>}
          </dl>
          {open && !revising && <button type="button" class="secondary" onClick={() => setRevising(true)}>{t('assess.revise')}</button>}
          {revising && (
            <section aria-labelledby="assess-revise">
              <h2 id="assess-revise">{t('assess.revise')}</h2>
              <Declaration initial={fromRecord(a, a.fy)} submitLabel={t('assess.revise.file')} note={t('assess.declare')}
                onSubmit={async (decl) => {
                  const { fy, ...rest } = decl;
                  const r = await api('POST', `/api/v1/property-tax/assessments/${encodeURIComponent(assessmentId)}/revise`, { key: newKey(), body: rest });
                  setRevising(false); setDone(msg('assess.revised', { id: String(r.assessmentId) }));
                  navigate(`/property/${encodeURIComponent(a.propertyId)}/assessment/${r.assessmentId}`);
                  reload();
                }} />
            </section>
          )}
        </>
      )}
      <p><Link href={'/property/' + encodeURIComponent(propertyId)}>{t('common.back')}</Link></p>
    </>
  );
}
