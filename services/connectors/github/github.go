// Package github normalizes GitHub activity: webhook deliveries (Webhook)
// and GH Archive hourly files (ReadArchive, ArchiveFiles), with one mapping
// shared by both, so the same activity gets the same event either way.
//
// # Mapping
//
//	issues opened|closed|reopened        github.issue.<action>       actor: author (opened), sender
//	issue_comment created                github.issue.commented      target: issue/PR author (reply)
//	pull_request opened|reopened         github.pull_request.<action>
//	pull_request closed, merged          github.pull_request.merged  actor: the PR author; merged_by attribute
//	pull_request closed, not merged      github.pull_request.closed  actor: who closed it
//	pull_request_review submitted        github.pull_request.reviewed         target: PR author (review)
//	pull_request_review_comment created  github.pull_request.review_commented target: PR author (review)
//	commit_comment created               github.commit.commented
//	push with commits                    github.commit.pushed        pushes of no commit (deletions) ignored
//	star created, watch started          github.star.created         one id: GitHub sends both for one star
//	fork                                 github.fork.created
//	create branch|tag                    github.ref.created          repository creation ignored
//	release published                    github.release.published
//	gollum                               github.wiki.edited          one event for all pages of a delivery
//	member added                         github.member.added         actor: the new collaborator; added_by attribute
//	discussion created                   github.discussion.created
//	discussion answered                  github.discussion.answered  actor: the answer's author; target: the asker (reply)
//	discussion_comment created           github.discussion.commented target: discussion author (reply)
//
// Other actions of these events (edited, deleted, labeled, assigned,
// synchronize, ...) and the events that carry no member activity (ping,
// check runs, deployments, security alerts, installations, labels, ...)
// are ignored with a reason; an event name not known at all is unmapped.
// Assignees at opening are targets of kind assign; assignment changes
// afterwards have no activity type and are ignored. @-mentions in bodies
// are targets of kind mention; a mentioned login whose numeric id the
// payload does not carry has the source_id LoginIDPrefix+login, to be
// resolved by username in the identity stage.
//
// # Ids
//
// Event ids come from the platform objects, never from the delivery, so a
// webhook, a GH Archive line and a REST backfill of one activity share it:
//
//	github:issue:<issue id>:opened|reopened
//	github:issue:<issue id>:closed:<closed_at, Unix seconds>
//	github:issue_comment:<comment id>
//	github:pull_request:<pr id>:opened|reopened|merged
//	github:pull_request:<pr id>:closed:<closed_at, Unix seconds>
//	github:review:<review id>
//	github:review_comment:<comment id>
//	github:commit_comment:<comment id>
//	github:push:<repo id>:<ref>:<head sha>
//	github:star:<repo id>:<user id>
//	github:fork:<fork repo id>
//	github:ref:<repo id>:<branch|tag>:<ref>:created
//	github:release:<release id>:published
//	github:wiki:<repo id>:<page sha>...
//	github:member:<repo id>:<user id>:added
//	github:discussion:<discussion id>:created
//	github:discussion:<discussion id>:answered:<answer comment id>
//	github:discussion_comment:<comment id>
//
// An action repeated on one object counts once where the payloads carry
// nothing to tell the repetitions apart: a repository starred again after
// an unstar, a branch or tag deleted and created again, an issue reopened
// twice. Closes are told apart by closed_at. Threads: github:issue:<repo id>:<number> for an issue or
// pull request and everything said on it, github:discussion:<repo id>:<number>,
// github:commit:<repo id>:<sha>.
//
// occurred_at is the object's own time (created_at, closed_at, merged_at,
// submitted_at, published_at, starred_at, the repository's pushed_at);
// where the payload has none it is the archive event's created_at, or for
// a webhook the receipt time. Actors are numeric user ids with the login
// as username; bots are type "Bot", "[bot]" logins and the configured
// accounts.
package github

// Source is the source name of every GitHub event.
const Source = "github"

// LoginIDPrefix starts the source_id of an @-mention target whose numeric
// user id is unknown: "login:" + the lowercased login.
const LoginIDPrefix = "login:"
