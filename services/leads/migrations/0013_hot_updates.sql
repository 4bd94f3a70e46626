-- Room on each page for a row's next version, so the per-command rewrite of a lead's view row and timer rows is a
-- HOT update (the new version on the same page, no index touched) instead of a new entry in every index: none of
-- the columns a follow-up changes is indexed, but at the default fillfactor 100 the pages are full, and each
-- update of leads_view went to another page and into its nine indexes (two of them trigram GINs). Applies to
-- pages written from now on; existing pages get the room as they are rewritten (VACUUM FULL or pg_repack at once).
ALTER TABLE leads_view SET (fillfactor = 70);
ALTER TABLE leads_timers SET (fillfactor = 70);
