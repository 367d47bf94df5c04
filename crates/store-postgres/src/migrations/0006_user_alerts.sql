-- Each user's alert rules (issue 10): the channels their arrivals and
-- departures go to, the hours within which they are told, and a no-show
-- rule, as the JSON wire form of keyward_core::notify::AlertRulesSpec. NULL:
-- the defaults (every channel, at any hour, no no-show rule).
ALTER TABLE users ADD COLUMN alerts TEXT;
