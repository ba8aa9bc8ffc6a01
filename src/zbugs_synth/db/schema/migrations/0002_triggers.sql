-- zbugs' row-level triggers: server-side timestamps, issue "modified" bumps when something on an
-- issue changes, comment size limits, emoji clean-up and the project's lower-case name.
-- "now" is CURRENT_TIMESTAMP (transaction start) in epoch milliseconds, like the column defaults.
-- A bulk load disables these (ALTER TABLE ... DISABLE TRIGGER USER) so synthetic timestamps survive.

CREATE FUNCTION "set_modified_now"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."modified" := EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * 1000;
    RETURN NEW;
END
$$;

CREATE FUNCTION "set_created_now"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."created" := EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * 1000;
    RETURN NEW;
END
$$;

-- Emoji point at issues and comments through "subjectID" (no foreign key), so deleting either
-- removes its emoji here.
CREATE FUNCTION "delete_emoji_of_subject"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM "emoji" WHERE "subjectID" = OLD."id";
    RETURN NULL;
END
$$;

CREATE FUNCTION "comment_bump_issue_modified"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- issue's own BEFORE UPDATE trigger also stamps "modified"; setting it here keeps this correct
    -- even while that trigger is disabled.
    UPDATE "issue" SET "modified" = EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * 1000 WHERE "id" = NEW."issueID";
    RETURN NULL;
END
$$;

CREATE FUNCTION "comment_check_body_length"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    max_chars integer := 65536;
BEGIN
    -- One issue in zbugs' own tracker keeps its comments short.
    IF NEW."issueID" = 'duuW9Nyj5cTNLlimp9Qje' THEN
        max_chars := 1024;
    END IF;
    IF length(NEW."body") > max_chars THEN
        RAISE EXCEPTION 'comment body is % characters long; the limit is %', length(NEW."body"), max_chars
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION "project_set_lower_case_name"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."lowerCaseName" := lower(NEW."name");
    RETURN NEW;
END
$$;

CREATE FUNCTION "emoji_check_subject_bump_issue"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM "issue" WHERE "id" = NEW."subjectID")
       AND NOT EXISTS (SELECT 1 FROM "comment" WHERE "id" = NEW."subjectID") THEN
        RAISE EXCEPTION 'emoji subjectID % is neither an issue nor a comment', NEW."subjectID"
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- Two primary-key lookups: the subject is the issue itself, or a comment on it.
    UPDATE "issue" SET "modified" = EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * 1000
     WHERE "id" = NEW."subjectID"
        OR "id" = (SELECT "issueID" FROM "comment" WHERE "id" = NEW."subjectID");
    RETURN NEW;
END
$$;

CREATE TRIGGER "issue_set_modified" BEFORE INSERT OR UPDATE ON "issue"
    FOR EACH ROW EXECUTE FUNCTION "set_modified_now"();
CREATE TRIGGER "issue_set_created" BEFORE INSERT ON "issue"
    FOR EACH ROW EXECUTE FUNCTION "set_created_now"();
CREATE TRIGGER "issue_delete_emoji" AFTER DELETE ON "issue"
    FOR EACH ROW EXECUTE FUNCTION "delete_emoji_of_subject"();

CREATE TRIGGER "comment_set_created" BEFORE INSERT ON "comment"
    FOR EACH ROW EXECUTE FUNCTION "set_created_now"();
CREATE TRIGGER "comment_check_body_length" BEFORE INSERT OR UPDATE ON "comment"
    FOR EACH ROW EXECUTE FUNCTION "comment_check_body_length"();
CREATE TRIGGER "comment_bump_issue_modified" AFTER INSERT ON "comment"
    FOR EACH ROW EXECUTE FUNCTION "comment_bump_issue_modified"();
CREATE TRIGGER "comment_delete_emoji" AFTER DELETE ON "comment"
    FOR EACH ROW EXECUTE FUNCTION "delete_emoji_of_subject"();

CREATE TRIGGER "project_set_lower_case_name" BEFORE INSERT OR UPDATE ON "project"
    FOR EACH ROW EXECUTE FUNCTION "project_set_lower_case_name"();

CREATE TRIGGER "emoji_check_subject_bump_issue" BEFORE INSERT OR UPDATE ON "emoji"
    FOR EACH ROW EXECUTE FUNCTION "emoji_check_subject_bump_issue"();
CREATE TRIGGER "emoji_set_created" BEFORE INSERT ON "emoji"
    FOR EACH ROW EXECUTE FUNCTION "set_created_now"();
