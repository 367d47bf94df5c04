-- What an audit or delivery entry is about (issue 10), in words that hold no
-- secret: the fields a user's change touched, a channel's name, until when a
-- shared link works. NULL for entries that need no more than their columns.
ALTER TABLE activity ADD COLUMN detail TEXT;
