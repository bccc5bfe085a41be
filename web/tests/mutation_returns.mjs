// mutation_returns.mjs — acceptance: an owner applies online for a mutation
// of their property (the form's rules at their fields first: the shares must
// add up to 100%), sees it waiting on the property's page, and finds the
// return they filed listed on the property's returns; a revenue officer finds
// both in the staff inbox, approves the mutation (recorded as at the counter)
// and accepts the return; the applicant then sees the mutation approved (and
// that the property is no longer theirs). axe-core on each screen, in Hindi and English.
//
//   NAGAR_WEB_MOBILE, NAGAR_WEB_OTP_SINK, NAGAR_WEB_PROPERTY, NAGAR_WEB_RETURN (assessment id),
//   NAGAR_WEB_OFFICER ("username:password")
import { join } from 'node:path';
import { artifacts, base, citizenLogin, english, launchBrowser, report, screen, staffLogin } from './lib.mjs';

const mobile = process.env.NAGAR_WEB_MOBILE;
const pid = process.env.NAGAR_WEB_PROPERTY;
const returnId = process.env.NAGAR_WEB_RETURN;
const [officerUser, officerPassword] = process.env.NAGAR_WEB_OFFICER.split(':');
const out = { consoleErrors: [] };

const { newContext, close } = await launchBrowser();
const pages = [];
async function open(width) {
  const context = await newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    // Once the mutation is approved the property is no longer the citizen's:
    // its particulars and dues answer 404, as they should.
    if (m.type() === 'error' && (m.location().url || '').startsWith(base) && !(noLongerOwner && /status of 404/.test(m.text()))) out.consoleErrors.push(m.text());
  });
  pages.push(page);
  return page;
}
const text = async (locator) => (await locator.textContent()).trim();
let noLongerOwner = false;

try {
  // ---- the owner applies -------------------------------------------------------
  const citizen = await open(360);
  await citizen.goto(base + '/login');
  await english(citizen);
  await citizen.reload();
  await citizenLogin(citizen, mobile);
  await citizen.goto(base + '/property/' + pid);
  await citizen.getByRole('heading', { name: 'Mutation (change of owners)' }).waitFor();
  await citizen.getByText('You have no mutation application for this property.').waitFor();
  await screen(citizen, 'citizen-property-mutation-none', out);
  await citizen.getByRole('link', { name: 'Apply for a mutation' }).click();
  await citizen.getByRole('heading', { name: 'Application for a mutation' }).waitFor();
  // Nothing filled in: each rule at its field.
  await citizen.getByLabel('Share (%)').fill('');
  await citizen.getByRole('button', { name: 'Send the application' }).click();
  await citizen.getByText('This is required.').first().waitFor();
  out.emptyErrors = await citizen.locator('main .field.invalid label').allTextContents();
  await screen(citizen, 'citizen-mutation-errors', out);
  // Shares that do not add up to 100%.
  await citizen.getByLabel('Name').fill('Ravi Verma');
  await citizen.getByLabel('Share (%)').fill('60');
  await citizen.getByLabel('Deed number').fill('MP/BPL/2026/004217');
  await citizen.getByLabel("Document's reference").fill('REG-77/2026');
  await citizen.getByRole('button', { name: 'Send the application' }).click();
  await citizen.getByText(/^The shares must add up to 100%/).waitFor();
  out.shareError = await text(citizen.getByText(/^The shares must add up to 100%/));
  await screen(citizen, 'citizen-mutation-share-error', out);
  await citizen.getByRole('button', { name: 'Add another owner' }).click();
  const second = citizen.getByRole('group', { name: 'New owner 2' });
  await second.getByLabel('Name').fill('Sita Verma');
  await second.getByLabel('Share (%)').fill('40');
  await citizen.getByLabel('Your statement').fill('Bought on 01/11/2026; registered at the sub-registrar, Bhopal.');
  await citizen.getByRole('button', { name: 'Send the application' }).click();
  await citizen.getByTestId('mutation-sent').waitFor();
  out.sent = await text(citizen.getByTestId('mutation-sent'));
  await screen(citizen, 'citizen-mutation-sent', out);
  await citizen.getByRole('link', { name: 'Back' }).click();
  await citizen.getByTestId('mutation-status').first().waitFor();
  out.pendingStatus = await text(citizen.getByTestId('mutation-status').first());
  out.applyLinksWhilePending = await citizen.getByRole('link', { name: 'Apply for a mutation' }).count();
  await screen(citizen, 'citizen-property-mutation-pending', out);
  // The property's returns, listed by the service.
  await citizen.goto(`${base}/property/${pid}/assessment`);
  await citizen.getByTestId('returns').locator('li').first().waitFor();
  out.returnsBefore = await citizen.getByTestId('returns').locator('li').allTextContents();
  await screen(citizen, 'citizen-returns', out);

  // ---- the revenue officer's inbox --------------------------------------------
  const officer = await open(1280);
  await officer.goto(base + '/staff/');
  await english(officer);
  await officer.reload();
  await staffLogin(officer, officerUser, officerPassword);
  const card = officer.getByRole('article', { name: `Mutation: property ${pid}` });
  await card.waitFor();
  out.cardNewOwners = await text(card.getByTestId('new-owners'));
  const returnCard = officer.getByRole('article', { name: `Return ${returnId}: property ${pid}` });
  await returnCard.waitFor();
  await screen(officer, 'staff-inbox-property', out);
  // Rejecting asks for a reason first.
  await card.getByRole('button', { name: 'Reject' }).click();
  await card.getByText('A reason is required.').waitFor();
  await screen(officer, 'staff-mutation-reason-error', out);
  await card.getByRole('button', { name: 'Approve and record the mutation' }).click();
  await officer.getByTestId('inbox-done').getByText(/^Application \d+ approved/).waitFor();
  out.approved = await text(officer.getByTestId('inbox-done'));
  await card.waitFor({ state: 'detached' });
  await screen(officer, 'staff-mutation-approved', out);
  await returnCard.getByRole('button', { name: 'Accept the return' }).click();
  await officer.getByTestId('inbox-done').getByText(`Return ${returnId} (property ${pid}) accepted.`).waitFor();
  out.accepted = await text(officer.getByTestId('inbox-done'));
  await officer.screenshot({ path: join(artifacts, 'flow-officer-inbox-done.png'), fullPage: true });

  // ---- the applicant sees it decided --------------------------------------------
  noLongerOwner = true;
  await citizen.goto(base + '/property/' + pid);
  await citizen.getByTestId('mutation-status').first().getByText(/^Approved/).waitFor();
  out.approvedStatus = await text(citizen.getByTestId('mutation-status').first());
  // The new owners hold no account of this citizen's: the property is no
  // longer theirs to see, nor to apply for again.
  out.noLongerOwner = await text(citizen.getByTestId('no-longer-owner'));
  out.applyLinksAfter = await citizen.getByRole('link', { name: 'Apply for a mutation' }).count();
  await screen(citizen, 'citizen-property-mutation-approved', out);
  report(out);
} catch (e) {
  for (const [i, p] of pages.entries()) await p.screenshot({ path: join(artifacts, `failure-mutation_returns-${i}.png`), fullPage: true }).catch(() => {});
  throw e;
} finally {
  await close();
}
