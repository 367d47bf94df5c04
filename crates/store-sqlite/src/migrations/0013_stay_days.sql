-- A stay's first and last days as calendar days in the home's time zone
-- (issue 11): "2026-12-05" stays the 5th of December whatever the home's zone
-- becomes. A bound is either an instant (valid_from/valid_until) or a day.
ALTER TABLE users ADD COLUMN first_day TEXT;
ALTER TABLE users ADD COLUMN last_day TEXT;
