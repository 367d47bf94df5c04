-- When each user's code last opened or armed something, for the Users screen.
ALTER TABLE user_uses ADD COLUMN last_used_at INTEGER;
