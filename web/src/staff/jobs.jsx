// jobs.jsx — start the annual property-tax demand or the monthly water
// bills for a town and period, follow the progress, resume one by its id.
import { useEffect, useState } from 'preact/hooks';
import { api, currentSession, newKey } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { financialYear } from '../common/format.js';
import { Field, Notice } from '../common/ui.jsx';

const KINDS = {
  demand: { start: '/api/v1/property-tax/demand-jobs', period: 'fy', count: 'billsCreated' },
  bills: { start: '/api/v1/water-tax/bill-jobs', period: 'month', count: 'billsCreated' },
};

export function Jobs() {
  const session = currentSession();
  const [kind, setKind] = useState('demand');
  const [ulb, setUlb] = useState(session.ulb || '');
  const [period, setPeriod] = useState(financialYear());
  const [job, setJob] = useState(null);
  const [jobId, setJobId] = useState('');
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!job || job.status === 'DONE') return undefined;
    const timer = setTimeout(async () => {
      try { setJob(await api('GET', `${KINDS[kind].start}/${job.jobId}`)); } catch (e) { setError(e); }
    }, 700);
    return () => clearTimeout(timer);
  }, [job]);
  async function start(e) {
    e.preventDefault();
    setError(null);
    const body = kind === 'demand' ? { ulb, fy: period } : { ulb, period };
    // One key per town and period: starting again resumes the same job.
    try { setJob(await api('POST', KINDS[kind].start, { key: `job:${kind}:${ulb}:${period}`, body })); } catch (err) { setError(err); }
  }
  async function resume(e) {
    e.preventDefault();
    setError(null);
    try { setJob(await api('GET', `${KINDS[kind].start}/${encodeURIComponent(jobId.trim())}`)); } catch (err) { setError(err); }
  }
  const total = Number(job?.total || 0);
  const done = Number(job?.processed || 0);
  return (
    <>
      <h1>{t('staff.jobs')}</h1>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <form onSubmit={start}>
        <Field label={t('jobs.kind')} value={kind} onInput={(v) => { setKind(v); setPeriod(v === 'demand' ? financialYear() : new Date().toISOString().slice(0, 7)); setJob(null); }}>
          <option value="demand">{t('jobs.demand')}</option>
          <option value="bills">{t('jobs.bills')}</option>
        </Field>
        <Field label={t('jobs.ulb')} value={ulb} onInput={setUlb} readOnly={!!session.ulb} />
        <Field label={kind === 'demand' ? t('jobs.fy') : t('jobs.month')} value={period} onInput={setPeriod} />
        <button type="submit">{t('jobs.start')}</button>
      </form>
      <form class="inline" onSubmit={resume}>
        <Field label={t('jobs.id')} value={jobId} onInput={setJobId} inputMode="numeric" />
        <button type="submit" class="secondary">{t('jobs.resume')}</button>
      </form>
      {job && (
        <section aria-labelledby="job-title" data-testid="job" data-status={job.status}>
          <h2 id="job-title">{t('jobs.job', { id: String(job.jobId) })}</h2>
          <label for="job-progress">{t('jobs.progress', { done: String(done), total: String(total) })}</label>
          <progress id="job-progress" class="progress" max={total || 1} value={total ? done : (job.status === 'DONE' ? 1 : 0)} />
          <p role="status">{job.status === 'DONE'
            ? <span data-testid="job-done">{t('jobs.done', { count: String(job[KINDS[kind].count] || 0), skipped: String(job.skipped || 0) })}</span>
            : t('jobs.running')}</p>
        </section>
      )}
    </>
  );
}
