package topics

import (
	"slices"
	"strings"
	"unicode"
)

// Question-like items, defined here and nowhere else.
//
// An item is a thread opened by a type with item "opens" in
// schemas/events/activity_types.yaml; the health rollups keep one row per
// item with its first response (table items, schemas/clickhouse 0017). Of
// those, an item is question-like when its opening type is:
//
//   - discourse.topic.created: every forum topic;
//   - support.ticket.opened: every support ticket (CSV import, source
//     "support");
//   - github.discussion.created: every GitHub discussion (the connector
//     does not carry the category; discussions are the Q&A place);
//   - github.issue.opened: an issue with a question label (its attribute
//     "labels", the label names separated by commas, has a label whose
//     words include question, questions, support, usage, faq or howto,
//     or that reads "help" or "needs help"), or a title ending in "?".
//     "help wanted" is not one: on GitHub it asks contributors for help;
//   - mailinglist.message.posted: a thread whose subject ends in "?".
//
// Imports and the generic ingest API count when they produce these types
// (a CSV import of tickets gives support.ticket.opened); no other type,
// custom ones included, is question-like.
//
// Chat threads are not items of the health rollups; they are read from
// the activities (chatSQL in topics.go):
//
//   - discord.thread.created: every Discord thread (a post of a forum
//     channel, the usual help desk, is one; its name is the title). Its
//     first response is the first discord.message.posted in the thread by
//     another member, not a bot.
//
// Slack threads are not taken: Orbitflow stores no message text, so a
// Slack thread has no title to find a topic in.
var questionTypes = map[string]func(title, labels string) bool{
	"discourse.topic.created":    always,
	"support.ticket.opened":      always,
	"github.discussion.created":  always,
	"github.issue.opened":        func(title, labels string) bool { return hasQuestionLabel(labels) || asks(title) },
	"mailinglist.message.posted": func(title, _ string) bool { return asks(title) },
	"discord.thread.created":     always,
}

// chatReplies are, per chat thread type, the types of its responses.
var chatReplies = map[string][]string{
	"discord.thread.created": {"discord.message.posted"},
}

func always(string, string) bool { return true }

// QuestionTypes returns the opening types that can make a question-like
// item (chat threads' included), sorted.
func QuestionTypes() []string {
	out := make([]string, 0, len(questionTypes))
	for t := range questionTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// IsQuestion reports whether an item opened by itemType, with title and
// the opening's "labels" attribute, is question-like.
func IsQuestion(itemType, title, labels string) bool {
	f, ok := questionTypes[itemType]
	return ok && f(title, labels)
}

// questionLabelWords make a label question-like when any word of it is one.
var questionLabelWords = map[string]bool{"question": true, "questions": true, "support": true, "usage": true, "faq": true, "howto": true}

func hasQuestionLabel(labels string) bool {
	for _, l := range strings.Split(labels, ",") {
		words := strings.FieldsFunc(strings.ToLower(l), func(r rune) bool { return !unicode.IsLetter(r) })
		switch strings.Join(words, " ") {
		case "help", "needs help", "need help":
			return true
		}
		for _, w := range words {
			if questionLabelWords[w] {
				return true
			}
		}
	}
	return false
}

// asks reports whether title ends in a question mark (closing quotes,
// brackets and spaces after it allowed).
func asks(title string) bool {
	t := strings.TrimRightFunc(title, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`"')]»”’`, r)
	})
	return strings.HasSuffix(t, "?") || strings.HasSuffix(t, "？")
}
