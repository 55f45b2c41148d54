// Account steps several browser tests share.

export const PASSWORD = 'correct horse battery staple';

/** Signs up `email` on the sign-up page of `baseUrl` and waits for /account. */
export async function signUp(page, baseUrl, email) {
  await page.goto(`${baseUrl}/sign-up`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${baseUrl}/account`);
}
