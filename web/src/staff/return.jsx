// return.jsx — one self-assessment return opened from the inbox
// (/staff/returns/<id>): what the owner filed and its annual letting value
// (ALV) at the year's rates; for a REVENUE_OFFICER of its town, while it is
// FILED, the decision (POST /api/v1/property-tax/assessments/{id}/decision):
// accept it as filed (an optional note), or re-assess it — the officer's zone,
// use, construction, occupancy and floors, with a reason (3..500 characters)
// — either way applied to the register, which the next demand is computed
// from. Then the result: ACCEPTED or REASSESSED, what was filed next to what
// was decided, the ALV of each.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, currentSession, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDateTime, rupees } from '../common/format.js';
import { Declaration, floorsLine, fromRecord } from '../common/declaration.jsx';
import { Busy, Field, Link, Notice, useLoad } from '../common/ui.jsx';

const area = (floors) => (floors || []).reduce((n, fl) => n + Number(fl.areaSqft || 0), 0);
const decide = (id, body) => api('POST', `/api/v1/property-tax/assessments/${encodeURIComponent(id)}/decision`, { key: newKey(), body });

// The particulars of one or two versions of a return, side by side.
function Particulars({ columns }) {
  const rows = [
    ['assess.zone', (a) => a.zone],
    ['assess.usage', (a) => t('usage.' + a.usage)],
    ['assess.construction', (a) => t('construction.' + a.construction)],
    ['assess.occupancy', (a) => t('occupancy.' + a.occupancy)],
    ['assess.floors', (a) => floorsLine(a.floors)],
    ['return.area', (a) => t('return.sqft', { area: String(area(a.floors)) })],
    ['inbox.return.alv', (a) => rupees(a.alvPaise)],
  ];
  return (
    <table data-testid="return-particulars">
      <caption>{t('return.particulars')}</caption>
      <thead><tr><th scope="col"><span class="visually-hidden">{t('return.what')}</span></th>{columns.map(([label]) => <th key={label} scope="col">{label}</th>)}</tr></thead>
      <tbody>{rows.map(([key, value]) => (
        <tr key={key}><th scope="row">{t(key)}</th>{columns.map(([label, a]) => <td key={label} data-row={key}>{value(a)}</td>)}</tr>
      ))}</tbody>
    </table>
  );
}

export function ReturnPage({ assessmentId }) {
  const [loaded, error, reload, loading] = useLoad(() => api('GET', '/api/v1/property-tax/assessments/' + encodeURIComponent(assessmentId)), [assessmentId]);
  // {filed, decided}: the return as it was opened and as the decision left it.
  const [result, setResult] = useState(null);
  const a = result ? result.decided : loaded;
  const officer = currentSession()?.role === 'REVENUE_OFFICER';
  const resultHeading = useRef(null);
  useEffect(() => { if (result) resultHeading.current?.focus(); }, [result]);
  const title = t('inbox.return', { id: String(assessmentId), property: a?.propertyId || '' });
  return (
    <>
      <h1>{title}</h1>
      <p><Link href="/staff/">{t('return.back')}</Link></p>
      <Busy when={loading && !a} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {a && (
        <>
          <dl class="facts">
            <dt>{t('property.id')}</dt><dd>{a.propertyId}</dd>
            <dt>{t('common.fy')}</dt><dd>{a.fy}</dd>
            <dt>{t('inbox.return.revision')}</dt><dd>{a.revision || 1}</dd>
            <dt>{t('cert.state')}</dt><dd data-testid="return-status" data-status={a.status}>{t('assess.status.' + a.status)}</dd>
            <dt>{t('assess.filed')}</dt><dd>{indianDateTime(a.filedAt)}</dd>
            {a.reason && <><dt>{t('assess.reason')}</dt><dd data-testid="return-reason">{a.reason}</dd></>}
          </dl>
          {result ? (
            <section aria-labelledby="return-result">
              <h2 id="return-result" tabIndex={-1} ref={resultHeading}>{t('return.result')}</h2>
              <Notice kind="success"><span data-testid="return-done">{String(result.decided.status === 'REASSESSED'
                ? msg('return.reassessed', { id: String(a.assessmentId), property: a.propertyId, filed: rupees(result.filed.alvPaise), alv: rupees(a.alvPaise) })
                : msg('return.accepted', { id: String(a.assessmentId), property: a.propertyId, alv: rupees(a.alvPaise) }))}</span></Notice>
              <Particulars columns={[[t('return.filed'), result.filed], [t('return.decided.' + a.status), a]]} />
              <p class="muted">{t('return.demand')}</p>
            </section>
          ) : (
            <Particulars columns={[[t('return.filed'), a]]} />
          )}
          {!result && a.status === 'FILED' && officer && <Decide a={a} onDecided={(decided) => setResult({ filed: a, decided })} />}
          {!result && a.status === 'FILED' && !officer && <p>{t('return.officer.only')}</p>}
          {!result && a.status !== 'FILED' && <p>{t('return.not.waiting', { status: t('assess.status.' + a.status) })}</p>}
        </>
      )}
      {error && <p><button type="button" class="secondary" onClick={reload}>{t('common.refresh')}</button></p>}
    </>
  );
}

function Decide({ a, onDecided }) {
  const [note, setNote] = useState('');
  const [noteError, setNoteError] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function accept(e) {
    e.preventDefault();
    setError(null); setNoteError(null);
    if (note.trim().length > 500) { setNoteError(msg('rule.toolong', { max: '500' })); return; }
    setBusy(true);
    try {
      onDecided(await decide(a.assessmentId, { decision: 'ACCEPT', reason: note.trim() }));
    } catch (err) { setError(err); if (err.field === 'reason') setNoteError({ toString: () => errorText(err) }); } finally { setBusy(false); }
  }
  return (
    <>
      <section aria-labelledby="return-accept">
        <h2 id="return-accept">{t('return.accept.title')}</h2>
        <p>{t('return.accept.hint')}</p>
        <form onSubmit={accept} noValidate>
          <Notice kind="error">{error && errorText(error)}</Notice>
          <Field label={t('return.note')} hint={t('common.optional')} value={note} onInput={setNote} error={noteError} maxLength={500} />
          <button type="submit" disabled={busy}>{t('inbox.return.accept')}</button>
        </form>
      </section>
      <section aria-labelledby="return-reassess">
        <h2 id="return-reassess">{t('return.reassess.title')}</h2>
        <p>{t('return.reassess.hint')}</p>
        <Declaration initial={fromRecord(a, a.fy)} reasonLabel={t('return.reason')} note={t('return.demand')} submitLabel={t('return.reassess.submit')}
          onSubmit={async (decl) => {
            const { fy, ...rest } = decl;
            onDecided(await decide(a.assessmentId, { decision: 'REASSESS', ...rest }));
          }} />
      </section>
    </>
  );
}
