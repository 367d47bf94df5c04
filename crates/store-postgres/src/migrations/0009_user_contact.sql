-- How the owner reaches a user, to share their access with them (issue 10):
-- an email address (lower-cased) and a phone number as typed, each optional.
ALTER TABLE users ADD COLUMN contact_email TEXT;
ALTER TABLE users ADD COLUMN contact_phone TEXT;
