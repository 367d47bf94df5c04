-- Issue 22 item 12: which browser on which device a session was signed in
-- from, in words ("Firefox on Android"), read from the user agent at sign-in.
-- Only the words are kept, never the user agent itself.
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
