// Runs one SQL statement through pgJDBC and prints the first column of the first row, for the e2e tests
// (test/support/jdbc.ts). Run as a single-file program: java -cp /usr/share/java/postgresql.jar Query.java URL SQL
// Connection properties come on standard input, one key=value a line (split at the first '='), so that passwords
// never stand in a command line. On failure: "SQLSTATE <state>: <message>" on standard error (then each cause's
// message), exit 1. Usage errors exit 2.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.logging.LogManager;

public class Query {
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: java -cp postgresql.jar Query.java JDBC_URL SQL < properties");
      System.exit(2);
    }
    // pgJDBC logs some failures (a hostname mismatch) at SEVERE besides throwing: keep stderr to the SQLSTATE lines.
    LogManager.getLogManager().reset();
    Properties properties = new Properties();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      if (line.isEmpty()) continue;
      int eq = line.indexOf('=');
      if (eq < 1) {
        System.err.println("property line without key=value");
        System.exit(2);
      }
      properties.setProperty(line.substring(0, eq), line.substring(eq + 1));
    }
    try (Connection connection = DriverManager.getConnection(args[0], properties);
         Statement statement = connection.createStatement()) {
      if (statement.execute(args[1])) {
        try (ResultSet rows = statement.getResultSet()) {
          if (rows.next()) System.out.println(rows.getString(1));
        }
      }
    } catch (SQLException failure) {
      System.err.println("SQLSTATE " + failure.getSQLState() + ": " + failure.getMessage());
      for (Throwable cause = failure.getCause(); cause != null; cause = cause.getCause()) {
        System.err.println("caused by " + cause.getClass().getName() + ": " + cause.getMessage());
      }
      System.exit(1);
    }
  }
}
