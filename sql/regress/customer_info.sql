SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topup CASCADE;
RESET client_min_messages;

--
-- customer_info validation, through topup.open_account().
-- Every failing call uses its own account id, so that a call which wrongly
-- succeeded would show up in the final listing instead of being masked by
-- an "already exists" error.
--

\set VERBOSITY default

-- The seed request's customerInfo is accepted exactly as it stands.
SELECT topup.open_account('ci-seed', 'USD', 'card', false,
    '{"customerType": "1", "firstName": "Jon1", "middleName": "Mid2", "lastName": "Doe3", "address1": "295R+VM Settat, Morocco", "address2": "Settat,Morocco", "city": "Morocco", "state": "Settat", "postal": "", "country": "US", "mailPref": "O", "phone": "+8612154154", "isMobile": "N", "phonePref": "O", "email": "Jon@gmail.com", "emailPref": "O", "birthday": "20000101", "anniversary": "", "gender": ""}');
SELECT customer_info = '{"customerType": "1", "firstName": "Jon1", "middleName": "Mid2", "lastName": "Doe3", "address1": "295R+VM Settat, Morocco", "address2": "Settat,Morocco", "city": "Morocco", "state": "Settat", "postal": "", "country": "US", "mailPref": "O", "phone": "+8612154154", "isMobile": "N", "phonePref": "O", "email": "Jon@gmail.com", "emailPref": "O", "birthday": "20000101", "anniversary": "", "gender": ""}'::jsonb AS stored_as_given
FROM topup.accounts WHERE account_id = 'ci-seed';

-- Every key is optional: an empty object and a NULL document are accepted.
SELECT topup.open_account('ci-empty', 'USD', 'customer', true, '{}');
SELECT topup.open_account('ci-null', 'USD', 'customer', true, NULL);

-- Other accepted values: leap days, a phone extension, a 100-character
-- name, the other choices.  (ASCII only, so the test does not depend on
-- the database encoding.)
SELECT topup.open_account('ci-variants', 'USD', 'customer', true,
    jsonb_build_object('customerType', '3', 'firstName', 'Zoe', 'lastName', repeat('a', 100),
                       'country', 'MA', 'phone', '+212 661 234 567 x12',
                       'isMobile', 'Y', 'mailPref', 'I', 'phonePref', 'I',
                       'emailPref', 'I', 'email', 'a.b+c@mail.example.org',
                       'birthday', '20000229', 'anniversary', '20240229',
                       'gender', 'F', 'city', 'Settat'));

-- The document must be a JSON object.
SELECT topup.open_account('ci-doc-null', 'USD', 'customer', true, 'null');
SELECT topup.open_account('ci-doc-array', 'USD', 'customer', true, '[{"firstName": "Jon"}]');
SELECT topup.open_account('ci-doc-string', 'USD', 'customer', true, '"Jon"');
SELECT topup.open_account('ci-doc-number', 'USD', 'customer', true, '1');

-- Unknown keys, including a wrong case and an overlong key name, which is
-- cut short in the message.
SELECT topup.open_account('ci-key-foo', 'USD', 'customer', true, '{"foo": "1"}');
SELECT topup.open_account('ci-key-case', 'USD', 'customer', true, '{"FirstName": "Jon"}');
SELECT topup.open_account('ci-key-long', 'USD', 'customer', true,
    jsonb_build_object(repeat('k', 100), '1'));

-- Every value must be a JSON string.
SELECT topup.open_account('ci-type-number', 'USD', 'customer', true, '{"customerType": 1}');
SELECT topup.open_account('ci-type-null', 'USD', 'customer', true, '{"middleName": null}');
SELECT topup.open_account('ci-type-bool', 'USD', 'customer', true, '{"isMobile": true}');
SELECT topup.open_account('ci-type-object', 'USD', 'customer', true, '{"address1": {"line": "x"}}');
SELECT topup.open_account('ci-type-array', 'USD', 'customer', true, '{"phone": ["+8612154154"]}');

-- Fixed choices.
SELECT topup.open_account('ci-customertype', 'USD', 'customer', true, '{"customerType": "4"}');
SELECT topup.open_account('ci-customertype-empty', 'USD', 'customer', true, '{"customerType": ""}');
SELECT topup.open_account('ci-mailpref', 'USD', 'customer', true, '{"mailPref": "o"}');
SELECT topup.open_account('ci-phonepref', 'USD', 'customer', true, '{"phonePref": "X"}');
SELECT topup.open_account('ci-emailpref', 'USD', 'customer', true, '{"emailPref": ""}');
SELECT topup.open_account('ci-ismobile', 'USD', 'customer', true, '{"isMobile": "Yes"}');
SELECT topup.open_account('ci-gender', 'USD', 'customer', true, '{"gender": "m"}');

-- Free text: at most 100 characters, no control characters.
SELECT topup.open_account('ci-name-long', 'USD', 'customer', true,
    jsonb_build_object('lastName', repeat('a', 101)));
SELECT topup.open_account('ci-name-control', 'USD', 'customer', true, '{"firstName": "Jon\nDoe"}');
SELECT topup.open_account('ci-address-tab', 'USD', 'customer', true, '{"address2": "a\tb"}');

-- Country: an officially assigned ISO 3166-1 alpha-2 code, upper case.
SELECT topup.open_account('ci-country-empty', 'USD', 'customer', true, '{"country": ""}');
SELECT topup.open_account('ci-country-lower', 'USD', 'customer', true, '{"country": "us"}');
SELECT topup.open_account('ci-country-unknown', 'USD', 'customer', true, '{"country": "XX"}');
SELECT topup.open_account('ci-country-alpha3', 'USD', 'customer', true, '{"country": "USA"}');
SELECT topup.open_account('ci-country-uk', 'USD', 'customer', true, '{"country": "UK"}');

-- Phone: "+", digits and single spaces, optional "x" extension;
-- at least 4 digits before the extension, at most 20 in all.
SELECT topup.open_account('ci-phone-noplus', 'USD', 'customer', true, '{"phone": "8612154154"}');
SELECT topup.open_account('ci-phone-letters', 'USD', 'customer', true, '{"phone": "+86121ABC54"}');
SELECT topup.open_account('ci-phone-dash', 'USD', 'customer', true, '{"phone": "+1 555-0100"}');
SELECT topup.open_account('ci-phone-empty', 'USD', 'customer', true, '{"phone": ""}');
SELECT topup.open_account('ci-phone-short', 'USD', 'customer', true, '{"phone": "+123 x4567"}');
SELECT topup.open_account('ci-phone-long', 'USD', 'customer', true, '{"phone": "+123456789012345678901"}');
SELECT topup.open_account('ci-phone-ext-empty', 'USD', 'customer', true, '{"phone": "+8612154154 x"}');

-- E-mail: one "@", non-empty local part, a domain with a dot, no spaces,
-- at most 254 characters.
SELECT topup.open_account('ci-email-noat', 'USD', 'customer', true, '{"email": "Jon.gmail.com"}');
SELECT topup.open_account('ci-email-twoat', 'USD', 'customer', true, '{"email": "Jon@x@gmail.com"}');
SELECT topup.open_account('ci-email-nolocal', 'USD', 'customer', true, '{"email": "@gmail.com"}');
SELECT topup.open_account('ci-email-nodot', 'USD', 'customer', true, '{"email": "Jon@localhost"}');
SELECT topup.open_account('ci-email-space', 'USD', 'customer', true, '{"email": "Jon Doe@gmail.com"}');
SELECT topup.open_account('ci-email-long', 'USD', 'customer', true,
    jsonb_build_object('email', repeat('a', 243) || '@example.com'));

-- Dates: YYYYMMDD naming a real date, or empty.
SELECT topup.open_account('ci-bday-20230229', 'USD', 'customer', true, '{"birthday": "20230229"}');
SELECT topup.open_account('ci-bday-19000229', 'USD', 'customer', true, '{"birthday": "19000229"}');
SELECT topup.open_account('ci-bday-20240230', 'USD', 'customer', true, '{"birthday": "20240230"}');
SELECT topup.open_account('ci-bday-short', 'USD', 'customer', true, '{"birthday": "2024011"}');
SELECT topup.open_account('ci-bday-month13', 'USD', 'customer', true, '{"birthday": "20241301"}');
SELECT topup.open_account('ci-bday-dashes', 'USD', 'customer', true, '{"birthday": "2024-01-01"}');
SELECT topup.open_account('ci-anniv-20240431', 'USD', 'customer', true, '{"anniversary": "20240431"}');

-- One bad key among good ones is enough to refuse the document.
SELECT topup.open_account('ci-seed-badphone', 'USD', 'card', false,
    '{"customerType": "1", "firstName": "Jon1", "middleName": "Mid2", "lastName": "Doe3", "address1": "295R+VM Settat, Morocco", "address2": "Settat,Morocco", "city": "Morocco", "state": "Settat", "postal": "", "country": "US", "mailPref": "O", "phone": "8612154154", "isMobile": "N", "phonePref": "O", "email": "Jon@gmail.com", "emailPref": "O", "birthday": "20000101", "anniversary": "", "gender": ""}');

-- The SQLSTATE is TU012 (invalid_customer_info) for every rule.
\set VERBOSITY sqlstate
SELECT topup.open_account('ci-state-doc', 'USD', 'customer', true, '[]');
SELECT topup.open_account('ci-state-key', 'USD', 'customer', true, '{"foo": "1"}');
SELECT topup.open_account('ci-state-country', 'USD', 'customer', true, '{"country": "us"}');
SELECT topup.open_account('ci-state-date', 'USD', 'customer', true, '{"birthday": "20230229"}');
\set VERBOSITY default

-- Only the accepted calls stored an account.
SELECT account_id, customer_info->>'firstName' FROM topup.accounts WHERE account_id LIKE 'ci-%' ORDER BY 1;
