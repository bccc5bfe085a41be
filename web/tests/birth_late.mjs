// birth_late.mjs — acceptance: a citizen applies for the registration of a
// birth 40 days late (RBD Act s.13(2): fee and the District Registrar's
// permission), pays its fee online (the provider's page and back) and
// downloads the fee receipt, a registrar registers it in the staff app, the
// citizen downloads the certificate and the verify page says VALID; after a
// correction approved by the registrar, the old one says SUPERSEDED.
//
//   NAGAR_WEB_MOBILE, NAGAR_WEB_TOWN (name to search), NAGAR_WEB_OTP_SINK,
//   NAGAR_WEB_REGISTRAR ("username:password"), NAGAR_WEB_BORN (YYYY-MM-DD)
import { join } from 'node:path';
import { artifacts, base, citizenLogin, english, expect, flowPages, launchBrowser, report, screen, staffLogin } from './lib.mjs';

const mobile = process.env.NAGAR_WEB_MOBILE;
const town = process.env.NAGAR_WEB_TOWN;
const born = process.env.NAGAR_WEB_BORN;
const [registrarUser, registrarPassword] = process.env.NAGAR_WEB_REGISTRAR.split(':');
const out = { consoleErrors: [] };

const { newContext, close } = await launchBrowser();
// Offline on purpose for a moment: the refused requests are expected.
const { open, failureShots } = flowPages(newContext, out, (text) => /ERR_INTERNET_DISCONNECTED/.test(text));

async function verify(page, payload, name) {
  await page.goto(base + '/verify');
  await page.getByLabel('Text of the QR').fill(payload);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  const verdict = page.getByTestId('verdict');
  await verdict.waitFor();
  await screen(page, name, out);
  return verdict.getAttribute('data-status');
}

try {
  // ---- the citizen applies --------------------------------------------------
  const citizen = await open(360);
  await citizen.goto(base + '/town');
  await english(citizen);
  await citizen.reload();
  await citizen.getByLabel('Search the town by name').fill(town);
  await citizen.getByRole('button', { name: new RegExp('^' + town) }).first().click();
  await citizen.getByText('Your town: ' + town).waitFor();
  await citizen.goto(base + '/certificates/apply/birth');
  await citizenLogin(citizen, mobile);
  await citizen.getByRole('heading', { name: 'Apply for a birth registration' }).waitFor();
  // The form checks the rules first, in the chosen language, at the field.
  await citizen.getByRole('button', { name: 'Send application' }).click();
  await citizen.getByText('This is required.').first().waitFor();
  out.fieldErrorShown = await citizen.getByLabel("Mother's name").getAttribute('aria-invalid');
  await screen(citizen, 'citizen-apply-birth-errors', out);
  await citizen.getByLabel('Date of birth').fill(born);
  await citizen.getByLabel('Sex').selectOption('FEMALE');
  await citizen.getByLabel("Child's name").fill('Meera Sharma');
  await citizen.getByLabel("Father's name").fill('Rakesh Sharma');
  await citizen.getByLabel("Mother's name").fill('Kavita Sharma');
  await citizen.getByLabel("Parents' address at the time of birth").fill('4 Nehru Nagar');
  await citizen.getByLabel('Permanent address').fill('4 Nehru Nagar, Madhya Pradesh');
  await citizen.getByLabel('Place of birth', { exact: true }).fill('District Hospital');
  await citizen.getByLabel("Informant's name").fill('Rakesh Sharma');
  await citizen.getByLabel('Relation').fill('father');
  await citizen.getByLabel("Informant's address").fill('4 Nehru Nagar');
  await citizen.getByLabel("Informant's mobile").fill(mobile);
  await citizen.getByRole('button', { name: 'Send application' }).click();
  await citizen.getByRole('heading', { name: 'Application', exact: true }).waitFor();
  out.applicationUrl = citizen.url();
  out.submittedState = (await citizen.getByTestId('state').textContent()).trim();
  out.delay = (await citizen.getByTestId('delay').textContent()).trim();
  out.fee = (await citizen.getByTestId('fee').textContent()).trim();

  // ---- the citizen pays the fee online and downloads its receipt --------------
  out.feeDueNote = (await citizen.getByTestId('fee-note').textContent()).trim();
  await screen(citizen, 'citizen-application-fee-due', out);
  await citizen.getByRole('button', { name: `Pay the fee of ${out.fee} online` }).click();
  await citizen.waitForURL(/\/pay\?/);
  await citizen.getByRole('button', { name: /^Pay Rs/ }).click();
  await citizen.waitForURL(/\/pay\/return/);
  const paid = citizen.getByText(/^Paid ₹/);
  await paid.waitFor({ timeout: 30000 });
  out.feeDone = (await paid.textContent()).trim();
  await screen(citizen, 'citizen-fee-paid', out);
  const [feeDownload] = await Promise.all([
    citizen.waitForEvent('download'),
    citizen.getByRole('button', { name: 'Download the fee receipt (PDF)' }).click(),
  ]);
  out.feePdf = join(artifacts, 'birth-fee-receipt.pdf');
  await feeDownload.saveAs(out.feePdf);
  await citizen.screenshot({ path: join(artifacts, 'flow-citizen-fee-paid.png'), fullPage: true });
  await citizen.getByRole('link', { name: 'Back' }).click();
  await citizen.getByRole('heading', { name: 'Application', exact: true }).waitFor();
  expect(decodeURIComponent(citizen.url()) === decodeURIComponent(out.applicationUrl), `back from the payment at ${citizen.url()}, not ${out.applicationUrl}`);
  await citizen.getByTestId('fee-note').getByText(/^Fee paid/).waitFor();
  out.feePaidNote = (await citizen.getByTestId('fee-note').textContent()).trim();

  // ---- the registrar registers it in the staff app ---------------------------
  const registrar = await open(1280);
  await registrar.goto(base + '/staff/');
  await english(registrar);
  await registrar.reload();
  await staffLogin(registrar, registrarUser, registrarPassword);
  out.whoami = (await registrar.getByTestId('whoami').textContent()).trim();
  const card = registrar.getByRole('article', { name: 'Birth: Meera Sharma' });
  await card.waitFor();
  out.deadline = (await card.getByTestId('deadline').textContent()).trim();
  // Its fee (Rs 50, s.13(2)), paid online: no cash to take, registration may go on.
  out.feeReceipt = (await card.getByTestId('fee-receipt').textContent()).trim();
  out.cashButtons = await card.getByRole('button', { name: /received in cash/ }).count();
  // The 40-day-late report needs the District Registrar's permission (s.13(2)).
  await card.getByRole('button', { name: 'Register and issue the certificate' }).click();
  await card.getByText('This is required.').waitFor();
  await screen(registrar, 'staff-inbox-permission-error', out);
  await card.getByLabel('Permission reference').fill('DR/BHOPAL/2026/0142');
  await card.getByRole('button', { name: 'Register and issue the certificate' }).click();
  const registered = registrar.getByTestId('inbox-done').getByText(/^Registered: /);
  await registered.waitFor();
  out.registeredText = (await registered.textContent()).trim();
  await screen(registrar, 'staff-inbox-registered', out);
  await registrar.screenshot({ path: join(artifacts, 'flow-registrar-registered.png'), fullPage: true });

  // ---- the citizen sees it registered, downloads the certificate -------------
  await citizen.reload();
  await citizen.getByTestId('regno').waitFor();
  out.registrationNumber = (await citizen.getByTestId('regno').textContent()).trim();
  out.registeredState = (await citizen.getByTestId('state').textContent()).trim();
  out.feeNote = (await citizen.getByTestId('fee-note').textContent()).trim();
  out.version1 = (await citizen.getByTestId('version').textContent()).trim();
  const [download] = await Promise.all([
    citizen.waitForEvent('download'),
    citizen.getByRole('button', { name: 'Download the certificate (PDF)' }).click(),
  ]);
  out.pdf = join(artifacts, 'birth-certificate-v1.pdf');
  await download.saveAs(out.pdf);
  await citizen.getByText('Text of the QR (for verification)').click();
  out.payload1 = (await citizen.getByTestId('qr-payload').textContent()).trim();
  await screen(citizen, 'citizen-application-registered', out);
  await citizen.screenshot({ path: join(artifacts, 'flow-citizen-registered.png'), fullPage: true });
  out.verify1 = await verify(citizen, out.payload1, 'citizen-verify-valid');
  // The page fetched the published keys (GET /api/v1/certificates/keys) and
  // kept them on the device.
  out.keptKeys = await citizen.evaluate(() => JSON.parse(localStorage.getItem('nagar.certificateKeys') || 'null'));
  // The verify page is kept by its service worker: after this one visit it
  // opens with no network at all.
  await citizen.evaluate(() => navigator.serviceWorker.ready);
  await citizen.context().setOffline(true);
  await citizen.goto(base + '/verify');
  out.offlineControlled = await citizen.evaluate(() => !!navigator.serviceWorker.controller);
  await citizen.getByLabel('Text of the QR').fill(out.payload1);
  await citizen.getByRole('button', { name: 'Verify', exact: true }).click();
  await citizen.getByTestId('keys-kept').waitFor();
  out.verifyOffline = [await citizen.getByTestId('verdict').getAttribute('data-status'), (await citizen.getByTestId('verdict').textContent()).trim()];
  await screen(citizen, 'citizen-verify-offline', out);
  // A seal dated outside its key's validity does not verify, signature or not
  // (the kept keys altered on the device, the page opened again offline).
  await citizen.evaluate(() => {
    const kept = JSON.parse(localStorage.getItem('nagar.certificateKeys'));
    kept.keys = kept.keys.map((k) => ({ ...k, validFrom: '2001-01-01', validUntil: '2001-12-31' }));
    localStorage.setItem('nagar.certificateKeys', JSON.stringify(kept));
  });
  await citizen.reload();
  await citizen.getByLabel('Text of the QR').fill(out.payload1);
  await citizen.getByRole('button', { name: 'Verify', exact: true }).click();
  await citizen.getByTestId('verdict').getByText('outside the days its key was valid for').waitFor();
  out.verifyOutsideValidity = await citizen.getByTestId('verdict').getAttribute('data-status');
  await screen(citizen, 'citizen-verify-outside-validity', out);
  // Other pages are not kept: without the network they do not open.
  out.townOffline = await citizen.goto(base + '/town').then(() => 'opened', (e) => String(e.message).split('\n')[0]);
  await citizen.context().setOffline(false);

  // ---- a correction: requested by the citizen, approved by the registrar ------
  await citizen.goto(out.applicationUrl);
  await citizen.getByLabel("Child's name, corrected").fill('Meera Kavita Sharma');
  await citizen.getByLabel('Reason for the correction').fill('the name was misspelt');
  await citizen.getByRole('button', { name: 'Send the correction request' }).click();
  await citizen.getByText('The correction request was sent').waitFor();
  await screen(citizen, 'citizen-correction-sent', out);
  await registrar.reload();
  const correction = registrar.getByRole('article', { name: /^Correction request/ });
  await correction.getByRole('button', { name: 'Approve the correction' }).click();
  await registrar.getByTestId('inbox-done').getByText('Correction approved').waitFor();
  await screen(registrar, 'staff-correction-approved', out);

  out.verifyOld = await verify(citizen, out.payload1, 'citizen-verify-superseded');
  await citizen.screenshot({ path: join(artifacts, 'flow-verify-superseded.png'), fullPage: true });
  await citizen.goto(out.applicationUrl);
  await citizen.getByTestId('version').waitFor();
  out.version2 = (await citizen.getByTestId('version').textContent()).trim();
  await citizen.getByText('Text of the QR (for verification)').click();
  out.payload2 = (await citizen.getByTestId('qr-payload').textContent()).trim();
  out.verifyNew = await verify(citizen, out.payload2, 'citizen-verify-corrected');
  report(out);
} catch (e) {
  await failureShots('birth_late');
  throw e;
} finally {
  await close();
}
