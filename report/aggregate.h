/*
 * aggregate: "mailposture-report aggregate", the DMARC aggregate reports
 * (RFC 9990) of a day from the rows the milter counted in Redis.
 */
#ifndef MP_REPORT_AGGREGATE_H
#define MP_REPORT_AGGREGATE_H

/*
 * Runs the command. conf_path and redis_addr are -c and --redis when
 * they came before the command (NULL otherwise); argv holds what
 * follows "aggregate". Returns the exit status: 0 done, 1 nothing to
 * report, 2 usage or configuration error (or output not written), 3
 * Redis unreachable.
 */
int aggregate_main(const char *conf_path, const char *redis_addr, int argc, char **argv);

/* Its lines of mailposture-report --help (a literal, for the help text). */
#define AGGREGATE_USAGE \
"  aggregate [--day YYYY-MM-DD] [--domain D] [--out DIR] [--send]\n" \
"        DMARC aggregate reports (RFC 9990) of a UTC day (default yesterday),\n" \
"        one per policy domain and published policy. --out DIR writes each as\n" \
"        DIR/RECEIVER!DOMAIN!BEGIN!END!ID.xml.gz; --send mails it to the rua\n" \
"        addresses its DMARC record names and allows ([report] sendmail), each\n" \
"        once, and without --day also what earlier runs of the two days before\n" \
"        could not send. Neither: one line per report. Needs [report] org_name\n" \
"        and email; --configured only says (0) whether they are set.\n"

#endif
